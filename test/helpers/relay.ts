// A loopback TCP relay in front of a server, so a test can cut every connection mid-transfer the
// way a flaky mobile network does, while the server itself keeps running.
import { createServer, connect, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'

export interface Relay {
  port: number
  url: string
  /** Bytes relayed from clients to the server so far. */
  bytesUp(): number
  /** Destroys every open connection, both sides. */
  cut(): number
  /**
   * Cuts every connection in the middle of the chunk that takes the bytes relayed up past `bytes`
   * more than now: exact where polling bytesUp() could miss a short upload. Resolves at the cut.
   */
  cutAfter(bytes: number): Promise<void>
  /** New connections go to this port from now on (a restarted server). */
  retarget(port: number): void
  close(): Promise<void>
}

export async function startRelay(targetPort: number): Promise<Relay> {
  const open = new Set<Socket>()
  let up = 0
  let target = targetPort
  let armed: { at: number; resolve(): void } | undefined
  const cut = (): number => {
    const n = open.size
    for (const socket of open) socket.destroy()
    open.clear()
    return n
  }
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1')
    open.add(client)
    open.add(upstream)
    client.on('data', (chunk: Buffer) => {
      up += chunk.length
      if (armed && up >= armed.at) {
        const { resolve } = armed
        armed = undefined
        cut()
        resolve()
      }
    })
    client.pipe(upstream).pipe(client)
    const drop = () => {
      client.destroy()
      upstream.destroy()
      open.delete(client)
      open.delete(upstream)
    }
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    bytesUp: () => up,
    cut,
    cutAfter: (bytes) => new Promise<void>((resolve) => (armed = { at: up + bytes, resolve })),
    retarget(port) {
      target = port
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of open) socket.destroy()
        server.close(() => resolve())
      }),
  }
}
