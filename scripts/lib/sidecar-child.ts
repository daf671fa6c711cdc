// The benchmarks' server process: the sidecar as `spaces-proxy serve` runs it (build() from the
// environment plus serve()'s request tracking, logs at info into a discarding stream), and beside
// it a bare Fastify app with one JSON route, the baseline of the request benchmark. Prints
// {"sidecar":PORT,"bare":PORT}, then serves until SIGTERM. Its garbage collector is tuned as
// `serve` tunes it, for both apps alike.
import type { Server } from 'node:http'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import { build } from '../../server/app.js'
import { loadConfig } from '../../server/config.js'
import { loggerOptions } from '../../server/logging.js'
import { trackRequests } from '../../server/main.js'
import { tuneGarbageCollector } from '../../server/gc-tuning.js'

tuneGarbageCollector()

const discard = new Writable({ write: (_chunk, _encoding, done) => done() })
const sidecar = await build(loadConfig(process.env), { logger: { ...loggerOptions('info'), stream: discard } })
trackRequests(sidecar)
const bare = Fastify({ logger: false })
bare.post('/bare', async (request) => ({ ok: true, key: (request.body as { key: string }).key }))
await sidecar.listen({ host: '127.0.0.1', port: 0 })
await bare.listen({ host: '127.0.0.1', port: 0 })
const port = (app: { server: Server }): number => (app.server.address() as { port: number }).port
process.stdout.write(`${JSON.stringify({ sidecar: port(sidecar), bare: port(bare) })}\n`)
process.on('SIGTERM', () => void Promise.all([sidecar.close(), bare.close()]).then(() => process.exit(0)))
