// Loading data for a view: one request per change of its inputs, the latest answer wins.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { ApiError } from '../api.js'

export interface AsyncState<T> {
  data?: T
  error?: ApiError
  loading: boolean
  reload(): void
}

export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err
  return new ApiError({ statusCode: 0, code: 'CONSOLE_ERROR', message: err instanceof Error ? err.message : String(err) })
}

export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): AsyncState<T> {
  const [state, setState] = useState<{ data?: T; error?: ApiError; loading: boolean }>({ loading: true })
  const [tick, setTick] = useState(0)
  const latest = useRef(0)
  useEffect(() => {
    const run = ++latest.current
    setState((s) => ({ ...s, loading: true }))
    load().then(
      (data) => run === latest.current && setState({ data, loading: false }),
      (err: unknown) => run === latest.current && setState({ error: toApiError(err), loading: false }),
    )
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick])
  const reload = useCallback(() => setTick((n) => n + 1), [])
  return { ...state, reload }
}
