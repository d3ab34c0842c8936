// UUIDv8-HLC generation rate vs crypto.randomUUID, same run (DESIGN §11; seed: 1M ids/s/thread).
// `value` is generate() producing the 16 bytes a row stores; randomUUID returns text, so the
// second line adds formatting for a like-for-like comparison. A fresh Hlc per figure: above
// 4.096M ids/s the counter overflows and the HLC runs ahead of the wall clock (by design), which
// would otherwise carry over from one measurement into the next.
import { randomUUID } from 'node:crypto'
import { systemClock } from '../src/core/clock'
import { Hlc } from '../src/core/hlc'
import { cryptoRng } from '../src/core/rng'
import { formatUuid, UuidV7Generator } from '../src/core/uuid'
import { opsPerSecond, printResult } from './lib/result'

const BATCH = 1000
const MS = Number(process.argv[2] ?? 2000)
let sink = 0 // consumed below so the JIT cannot drop the work

function rate (make: () => () => number): number {
  const one = make()
  return opsPerSecond(() => { for (let i = 0; i < BATCH; i++) sink ^= one() }, BATCH, MS)
}

const baseline = rate(() => () => randomUUID().charCodeAt(0))
const bytes = rate(() => {
  const hlc = new Hlc({ clock: systemClock, rng: cryptoRng, nodeId: 1 })
  return () => hlc.generate()[15]!
})
const text = rate(() => {
  const hlc = new Hlc({ clock: systemClock, rng: cryptoRng, nodeId: 1 })
  return () => formatUuid(hlc.generate()).charCodeAt(35)
})
const v7 = rate(() => {
  const gen = new UuidV7Generator(systemClock, cryptoRng)
  return () => gen.generate()[15]!
})

const note = 'baseline=crypto.randomUUID() (text)'
printResult({ name: 'uuidv8_generate', value: bytes, unit: 'ids/s', baseline, note })
printResult({ name: 'uuidv8_generate_string', value: text, unit: 'ids/s', baseline, note })
printResult({ name: 'uuidv7_generate', value: v7, unit: 'ids/s', baseline, note })
if (sink === 0.5) console.log('unreachable')
