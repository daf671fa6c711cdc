// `engines` tells the truth: every package the plugin loads supports every Node version
// package.json admits, the peers support the oldest of them, and nothing npm installs here warns
// EBADENGINE on this Node.
import { test } from 'tap'
import { readFileSync } from 'node:fs'
import semver from 'semver'

interface LockEntry {
  version: string
  dev?: boolean
  engines?: { node?: string } | string[]
  dependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
}

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  engines: { node: string }
  dependencies: Record<string, string>
  peerDependencies: Record<string, string>
}
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, LockEntry> }

const nodeRange = (entry: LockEntry) => (Array.isArray(entry.engines) ? undefined : entry.engines?.node)

/** Where npm resolves `name` from the package at `from`: its own node_modules, then upwards. */
function resolveIn(from: string, name: string): string | undefined {
  for (let dir = from; ; dir = dir.slice(0, Math.max(0, dir.lastIndexOf('/node_modules/')))) {
    const path = `${dir ? `${dir}/` : ''}node_modules/${name}`
    if (lock.packages[path]) return path
    if (!dir) return undefined
  }
}

/** Every package that `names` load, as installed here: theirs, and theirs, and so on. */
function closure(names: string[]): Set<string> {
  const seen = new Set<string>()
  const queue = names.map((name) => resolveIn('', name)!)
  while (queue.length > 0) {
    const path = queue.pop()!
    if (seen.has(path)) continue
    seen.add(path)
    const entry = lock.packages[path]!
    for (const name of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies, ...entry.peerDependencies })) {
      const found = resolveIn(path, name)
      if (found) queue.push(found)
    }
  }
  return seen
}

function needsMore(paths: Iterable<string>, admits: (range: string) => boolean): string[] {
  return [...paths].flatMap((path) => {
    const theirs = nodeRange(lock.packages[path]!)
    return theirs && !admits(theirs) ? [`${path}@${lock.packages[path]!.version} needs ${theirs}`] : []
  })
}

test('every package the plugin and the sidecar load supports the Node versions engines admits', async (t) => {
  const ours = pkg.engines.node
  t.ok(semver.validRange(ours), `engines.node is ${ours}`)
  const plugin = closure(Object.keys(pkg.dependencies))
  t.same(needsMore(plugin, (theirs) => semver.subset(ours, theirs)), [], `the plugin's ${plugin.size} packages: every version`)
  // A peer's newest supported Node is up to the version of it the user picks; its oldest must be ours.
  const peers = closure(Object.keys(pkg.peerDependencies))
  const oldest = semver.minVersion(ours)!.version
  t.same(
    needsMore(peers, (theirs) => semver.satisfies(oldest, theirs) && semver.satisfies(process.version, theirs)),
    [],
    `the peers' ${peers.size} packages: ${oldest} and ${process.version}`,
  )
})

test('nothing in the lock file warns EBADENGINE on this Node', async (t) => {
  const warned = Object.entries(lock.packages).flatMap(([path, entry]) => {
    const range = nodeRange(entry)
    return path && range && !semver.satisfies(process.version, range) ? [`${path}@${entry.version} needs ${range}`] : []
  })
  t.same(warned, [], `npm ci on Node ${process.version}`)
})
