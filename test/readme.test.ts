// The README is part of the product: its curl walk-through runs as written against a freshly
// started sidecar on the embedded default, and its error table matches the error classes.
import { test } from 'tap'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { errors } from '../plugin/errors.js'
import { startCliServer, tempCwd } from './helpers/cli.js'

const readme = readFileSync('README.md', 'utf8')

/** curl prints JSON bodies back to back with no newline: split them (and plain text) apart. */
function splitOutputs(text: string): string[] {
  const parts: string[] = []
  let i = 0
  while (i < text.length) {
    if (text[i] === '\n') {
      i++
      continue
    }
    if (text[i] !== '{') {
      const end = text.indexOf('\n', i)
      parts.push(text.slice(i, end === -1 ? undefined : end))
      i = end === -1 ? text.length : end
      continue
    }
    let depth = 0
    let inString = false
    let j = i
    for (; j < text.length; j++) {
      const c = text[j]
      if (inString) {
        if (c === '\\') j++
        else if (c === '"') inString = false
      } else if (c === '"') inString = true
      else if (c === '{') depth++
      else if (c === '}' && --depth === 0) break
    }
    parts.push(text.slice(i, j + 1))
    i = j + 1
  }
  return parts
}

function section(title: string): string {
  const start = readme.indexOf(`\n## ${title}\n`)
  const end = readme.indexOf('\n## ', start + 4)
  return readme.slice(start, end === -1 ? undefined : end)
}

test('Quick start has exactly two commands: run the server, run the tests', async (t) => {
  const block = /```sh\n([\s\S]*?)```/.exec(section('Quick start'))![1]!
  const commands = block.split('\n').filter((line) => line.trim() && !line.trim().startsWith('#'))
  t.same(commands.map((line) => line.split('#')[0]!.trim()), ['npm ci && npm start', 'npm test'])
})

test('the error table lists every error code, and nothing else', async (t) => {
  const listed = [...section('Errors').matchAll(/^\| `(FST_SPACES_[A-Z_]+)` \|/gm)].map((m) => m[1])
  const codes = Object.values(errors).map((E) => new (E as new () => { code: string })().code)
  t.same([...listed].sort(), [...codes].sort())
})

test('the curl walk-through works as written against the embedded default', async (t) => {
  const cwd = tempCwd()
  const server = await startCliServer({ DATA_DIR: `${cwd}/data`, LEDGER_PATH: `${cwd}/data/ledger.db` })
  t.teardown(() => server.child.kill('SIGKILL'))
  for (let i = 0; i < 50 && !server.output().includes('export TOKEN='); i++) await new Promise((r) => setTimeout(r, 100))
  const token = /export TOKEN=(\S+)/.exec(server.output())?.[1]
  t.ok(token, 'the dev banner prints a token to paste')
  t.match(server.output(), /embedded local-disk store/, 'and says it runs on local disk')

  const script = /```sh\n([\s\S]*?)```/.exec(section('Using the sidecar with curl'))![1]!.replaceAll('127.0.0.1:8080', `127.0.0.1:${server.port}`)
  const { stdout } = await promisify(execFile)('bash', ['-euo', 'pipefail', '-c', script], {
    cwd,
    env: { PATH: process.env.PATH, TOKEN: token },
    timeout: 60_000,
  })
  const outputs = splitOutputs(stdout)
  const upload = JSON.parse(outputs[0]!)
  t.match(upload, { key: 'org-123/epcr/document/epcr-456/report.pdf', size: 6, contentType: 'application/pdf' })
  t.match(JSON.parse(outputs[1]!), { files: [{ key: /^org-123\/epcr\/document\/epcr-456\/\d{8}_report\.pdf$/ }] })
  t.equal(outputs[2], 'hello', 'the download is the file')
  const signed = JSON.parse(outputs[3]!)
  t.match(signed, { method: 'GET', expiresIn: 300, url: new RegExp(`^http://127\\.0\\.0\\.1:${server.port}/v1/signed/`) })
  const viaLink = await fetch(signed.url)
  t.equal(await viaLink.text(), 'hello\n', 'the signed URL works without a token')
  t.match(stdout, /"trashId":"[0-9a-f-]{36}"/, 'delete answers with a trash id')
  t.match(stdout, /"ok":true,"events":\d+/, 'the audit chain verifies')
  t.match(stdout, /"orgId":"org-123","objects":2/, 'usage counts the restored file and the form upload')
  const final = await fetch(`http://127.0.0.1:${server.port}/v1/files/org-123/epcr/document/epcr-456/report.pdf`, {
    headers: { authorization: `Bearer ${token}` },
  })
  t.equal(final.status, 200, 'the restored file is back')
})
