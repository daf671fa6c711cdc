// What a developer sees on the first start without JWT_SECRET: a dev token and curl lines to paste.
import type { FastifyInstance } from 'fastify'
import type { ServerConfig } from './config.js'

/** The development token: an admin of org-123 for a working day, signed with the ephemeral secret. */
export function mintDevToken(app: FastifyInstance): string {
  return app.jwt.sign({ sub: 'dev-user', org: 'org-123', roles: ['admin'] }, { expiresIn: '8h' })
}

export function devBanner(app: FastifyInstance, config: ServerConfig): string {
  const token = mintDevToken(app)
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : config.port
  const base = `http://${config.host}:${port}/v1`
  return [
    '',
    'fastify-spaces is running in development mode:',
    `  storage: ${config.spaces ? `bucket ${config.spaces.bucket}` : `local disk under ${config.dataDir} (no SPACES_* set)`}`,
    '  auth:    an ephemeral JWT secret (set JWT_SECRET to keep tokens across restarts)',
    '',
    'Try it:',
    `  export TOKEN=${token}`,
    `  echo "hello" > report.pdf`,
    `  curl -s -H "Authorization: Bearer $TOKEN" -T report.pdf ${base}/files/org-123/epcr/document/epcr-456/report.pdf`,
    `  curl -s -H "Authorization: Bearer $TOKEN" ${base}/files/org-123/epcr/document/epcr-456/report.pdf`,
    `  curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"key":"org-123/epcr/document/epcr-456/report.pdf"}' ${base}/signed-urls`,
    `  curl -s -X DELETE -H "Authorization: Bearer $TOKEN" ${base}/files/org-123/epcr/document/epcr-456/report.pdf`,
    '',
    `API docs: http://${config.host}:${port}/docs`,
    ...(app.hasRoute({ method: 'GET', url: '/console/' }) ? [`Console:  http://${config.host}:${port}/console/ (offers this token on its sign-in screen)`] : []),
    '',
  ].join('\n')
}
