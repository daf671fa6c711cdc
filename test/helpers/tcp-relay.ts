// A loopback TCP relay in front of the S3 server, for outages that hit only the sidecar under
// test: `down()` cuts every connection and refuses new ones, `up()` listens again on the same
// port. The shared S3 peer itself is never stopped.
import { createServer, connect, type Server, type Socket } from 'node:net'
import { once } from 'node:events'

export interface TcpRelay {
  /** `http://127.0.0.1:<port>`: what the sidecar uses as its S3 endpoint. */
  endpoint(): string
  down(): Promise<void>
  up(): Promise<void>
}

export async function tcpRelay(target: URL): Promise<TcpRelay> {
  const sockets = new Set<Socket>()
  let server: Server | undefined
  let port = 0
  const up = async () => {
    server = createServer((client) => {
      const upstream = connect(Number(target.port || 80), target.hostname)
      for (const s of [client, upstream]) {
        sockets.add(s)
        s.on('close', () => sockets.delete(s))
        s.on('error', () => {})
      }
      client.pipe(upstream).pipe(client)
    })
    server.listen(port, '127.0.0.1')
    await once(server, 'listening')
    port = (server.address() as { port: number }).port
  }
  await up()
  return {
    endpoint: () => `http://127.0.0.1:${port}`,
    async down() {
      if (!server?.listening) return
      for (const s of sockets) s.destroy()
      server.close()
      await once(server, 'close')
    },
    up,
  }
}
