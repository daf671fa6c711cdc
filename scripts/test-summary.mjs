// Closes a test run: one line with the totals of every tap phase, then each failure again, named
// by its test file and subtests, with the diagnostics tap printed for it, so that the end of a
// long log says what failed.
import { readFileSync } from 'node:fs'

const lines = readFileSync(process.argv[2], 'utf8').split('\n')
let passed = 0
let failed = 0
const failures = []
// The open subtests by indent depth: their names, and how many failures had been found when
// each began (a failed subtest whose children already failed is not a failure of its own).
const names = []
const failuresBefore = []

for (let i = 0; i < lines.length; i++) {
  const line = lines[i]
  const total = /^# \{ total: (\d+), pass: (\d+)(?:, fail: (\d+))?/.exec(line)
  if (total) {
    passed += Number(total[2])
    failed += Number(total[3] ?? 0)
    continue
  }
  const subtest = /^( *)# Subtest: (.*)$/.exec(line)
  if (subtest) {
    const depth = subtest[1].length / 4
    names.length = failuresBefore.length = depth
    names.push(subtest[2])
    failuresBefore.push(failures.length)
    continue
  }
  const notOk = /^( *)not ok \d+ - (.*?)(?: # time=\S+)?$/.exec(line)
  if (!notOk) continue
  const depth = notOk[1].length / 4
  const closesSubtest = names[depth] === notOk[2]
  if (closesSubtest && failures.length > failuresBefore[depth]) continue
  const diagnostics = []
  if (lines[i + 1]?.trim() === '---') {
    const indent = lines[i + 1].indexOf('-')
    for (let j = i + 2; j < lines.length && lines[j].trim() !== '...'; j++) diagnostics.push(lines[j].slice(indent))
  }
  const where = [...names.slice(0, closesSubtest ? depth : depth + 1), notOk[2]].join(' > ')
  failures.push({ where, diagnostics: diagnostics.slice(0, 40) })
}

console.log(`tests: ${passed} passed, ${failed} failed`)
if (failures.length > 0) {
  console.log('\nfailed:')
  for (const { where, diagnostics } of failures) console.log([where, ...diagnostics.map((text) => `    ${text}`)].join('\n'))
}
