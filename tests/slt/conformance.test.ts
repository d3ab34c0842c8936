import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT, sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'
import { parseTestFile, runRecords, type Outcome } from './sqllogictest'
import { formatLines, parseLines } from './baseline'

// sqllogictest's select1–3 (../shared/sqllogictest, placed beside the checkout as .ci/run has it)
// against ONE node started once. Each file must pass at least as many records as baseline.json
// pins, and every record listed there (by ordinal) as passing must still pass. After fixing more, rewrite the
// baseline with SLT_UPDATE_BASELINE=1 (it only ever grows: a record that passed stays listed).
const CORPUS = join(ROOT, '../shared/sqllogictest')
const FILES = ['select1.test', 'select2.test', 'select3.test']
const BASELINE = join(ROOT, 'tests/slt/baseline.json')

interface Pin { pass: number, passing: string }
const baseline = JSON.parse(readFileSync(BASELINE, 'utf8')) as Record<string, Pin>
const present = existsSync(CORPUS)
if (!present) console.warn(`sqllogictest conformance skipped: ${CORPUS} is absent (the checkout's ../shared/sqllogictest)`)

let node: RunningNode
const outcomes = new Map<string, Outcome[]>()

describe.skipIf(!present)('sqllogictest select1–3', () => {
  beforeAll(async () => {
    const [cmd, args] = sourceCommand(['--config', join(ROOT, 'etc/scratchbird.yaml'), '--data-dir', join(tempDir(), 'data'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'])
    node = await startNode(cmd, args)
  })
  afterAll(() => {
    node?.proc.kill('SIGKILL')
    if (process.env.SLT_UPDATE_BASELINE === '1' && outcomes.size === FILES.length) {
      const next: Record<string, Pin> = {}
      for (const f of FILES) {
        const lines = new Set([...parseLines(baseline[f]?.passing ?? ''), ...outcomes.get(f)!.flatMap((o, i) => o.pass ? [i + 1] : [])])
        next[f] = { pass: lines.size, passing: formatLines([...lines]) }
      }
      writeFileSync(BASELINE, `${JSON.stringify(next, null, 2)}\n`)
    }
  })

  for (const f of FILES) {
    it(f, { timeout: 600_000 }, async () => {
      const { records, skipped } = parseTestFile(readFileSync(join(CORPUS, f), 'utf8'))
      const results = await runRecords(records, node.url('/v1/sql'))
      // The next file creates the same tables.
      for (const r of records) {
        const m = /^\s*CREATE\s+TABLE\s+(\w+)/i.exec(r.sql)
        if (m !== null) await fetch(node.url('/v1/sql'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql: `DROP TABLE IF EXISTS ${m[1]!}` }) })
      }
      outcomes.set(f, results)
      const passed = results.filter(o => o.pass).length
      console.log(`sqllogictest ${f}: ${passed} passed, ${results.length - passed} failed, ${skipped} skipped (of ${records.length + skipped} records)`)
      // SLT_FAILURES=<dir>: every failing record and why, one per line, to <dir>/<file>.failures.
      const failDir = process.env.SLT_FAILURES
      if (failDir !== undefined) writeFileSync(join(failDir, `${f}.failures`), results.flatMap((o, i) => o.pass ? [] : [`${o.line}\t${o.why ?? ''}\t${records[i]!.sql.replace(/\s+/g, ' ')}`]).join('\n') + '\n')
      const pin = baseline[f] ?? { pass: 0, passing: '' }
      const regressed = parseLines(pin.passing).filter(n => results[n - 1]?.pass !== true)
        .map(n => `${f}:${records[n - 1]?.line ?? '?'}: ${results[n - 1]?.why ?? 'not run'}`)
      expect(regressed).toEqual([])
      expect(passed).toBeGreaterThanOrEqual(pin.pass)
      expect(results.length).toBe(records.length)
    })
  }
})
