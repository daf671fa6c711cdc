// The compliance console: a single page at `{prefix}/` (the sidecar mounts it at /console) that
// drives the HTTP API of the plugin with the signed-in user's bearer token. This plugin serves
// only the page and its bundled assets; every file, trash, audit and usage call goes to the API,
// which stays the authority on who may see what.
import { isIP } from 'node:net'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ConfigInvalidError } from '../errors.js'
import { asset, findConsoleAssets, loadConsole, type Asset } from './assets.js'
import { SECURITY_HEADERS } from './security-headers.js'

export interface SpacesConsoleOptions {
  /** Where the plugin's routes are, as the browser reaches them: `/v1` in the sidecar. */
  api: string
  /** The configured systems, for the Files view's first level. */
  systems: readonly string[]
  /** Uploads go through tus (the store has multipart uploads); otherwise one form upload per file. */
  resumable: boolean
  /**
   * Development only: mints a token to offer on the sign-in screen, to browsers on this machine
   * (a loopback address) only. The sidecar passes one when it made up its own JWT secret.
   */
  devToken?: () => string
  /** The folder of the built console; found beside the package by default. */
  assetsDir?: string
}

const ASSET_NAME = /^[A-Za-z0-9._-]{1,128}$/

function escapeAttribute(value: string): string {
  return value.replace(/[&"<>]/g, (c) => `&#${c.charCodeAt(0)};`)
}

function isLoopback(ip: string): boolean {
  if (isIP(ip) === 4) return ip.startsWith('127.')
  return ip === '::1' || ip.startsWith('::ffff:127.')
}

const LOOPBACK_HOST = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d+)?$/

/**
 * A browser on this machine, asking this machine by name: the socket's peer is loopback (not a
 * forwarded client, whatever X-Forwarded-For says), no proxy relayed it, and the Host is a loopback
 * name, so a page that rebinds its own DNS name to 127.0.0.1 cannot read the token.
 */
function isLocalBrowser(request: FastifyRequest): boolean {
  return (
    isLoopback(request.socket.remoteAddress ?? '') &&
    request.headers['x-forwarded-for'] === undefined &&
    LOOPBACK_HOST.test(request.headers.host ?? '')
  )
}

function send(request: FastifyRequest, reply: FastifyReply, file: Asset, cacheControl: string): FastifyReply {
  reply.header('etag', file.etag).header('cache-control', cacheControl)
  if (request.headers['if-none-match'] === file.etag) return reply.code(304).send()
  return reply.type(file.contentType).send(file.body)
}

export async function spacesConsole(app: FastifyInstance, options: SpacesConsoleOptions): Promise<void> {
  const dir = options.assetsDir ?? findConsoleAssets()
  if (!dir) throw new ConfigInvalidError('the console is enabled but its assets are not built; run `npm run build`')
  if (!/^(\/[A-Za-z0-9._~-]+)*$/.test(options.api)) throw new ConfigInvalidError(`console api "${options.api}" must be a path like /v1`)
  const { manifest, template, files } = loadConsole(dir)
  const base = `${app.prefix}/assets`
  // The page is filled in once: where its assets and the API are, and what the sign-in may offer.
  const page = asset(
    Buffer.from(
      template
        .replaceAll('%SCRIPT%', escapeAttribute(`${base}/${manifest.script}`))
        .replaceAll('%STYLESHEET%', escapeAttribute(`${base}/${manifest.stylesheet}`))
        .replaceAll('%ICON%', escapeAttribute(`${base}/${manifest.icon}`))
        .replaceAll('%API%', escapeAttribute(options.api))
        .replaceAll('%SYSTEMS%', escapeAttribute(options.systems.join(',')))
        .replaceAll('%DEV_TOKEN%', options.devToken ? 'offered' : '')
        .replaceAll('%RESUMABLE%', options.resumable ? 'true' : 'false'),
    ),
    'index.html',
  )

  app.addHook('onSend', async (_request, reply) => {
    reply.headers(SECURITY_HEADERS)
  })

  const config = { public: true, operation: 'console.page' }
  app.get('/', { config, schema: { hide: true } }, async (request, reply) => send(request, reply, page, 'no-cache'))

  app.get<{ Params: { name: string } }>(
    '/assets/:name',
    { config: { ...config, operation: 'console.asset' }, schema: { hide: true } },
    async (request, reply) => {
      const file = ASSET_NAME.test(request.params.name) ? files.get(request.params.name) : undefined
      if (!file) return reply.callNotFound()
      // Names carry a content hash, so a file never changes under its name.
      return send(request, reply, file, 'public, max-age=31536000, immutable')
    },
  )

  const { devToken } = options
  if (devToken) {
    app.get('/dev-token', { config: { ...config, operation: 'console.dev_token' }, schema: { hide: true } }, async (request, reply) => {
      reply.header('cache-control', 'no-store')
      if (!isLocalBrowser(request)) return reply.callNotFound()
      return { token: devToken() }
    })
  }
}
