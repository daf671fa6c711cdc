// The server's garbage-collector tuning: applied by default, and an operator's own
// --heap-growing-percent on node's command line is left alone.
import { test } from 'tap'
import { HEAP_GROWING_FACTOR, tuneGarbageCollector } from '../server/gc-tuning.js'

test('the factor is set unless the operator set one', async (t) => {
  t.equal(HEAP_GROWING_FACTOR, 4)
  t.equal(tuneGarbageCollector([]), true, 'nothing set: the server sets it')
  t.equal(tuneGarbageCollector(['--heap-growing-percent=50']), false, 'on the command line: kept')
  t.equal(tuneGarbageCollector(['--enable-source-maps', '--heap_growing_percent=50']), false, 'spelled with underscores: kept')
  t.equal(tuneGarbageCollector(['--max-old-space-size=512', '--enable-source-maps']), true, 'other flags do not count')
})
