import { describe, expect, it } from 'vitest'
import { RECOVERY_BOUND_MS, runChaos } from './run'

// Issue 21: chaos runs on real processes. In `npm test` one bounded run (a fixed seed, 20 s of
// faults); `npm run chaos` runs CHAOS_RUNS seeds (20 by default there) of CHAOS_DURATION_MS
// each, and `SEED=… npm run chaos` replays one. Each run prints its summary line; a failed run
// keeps its history and node logs and prints where.

const replay = process.env.SEED !== undefined && process.env.SEED !== '' ? Number(process.env.SEED) : null
const runs = Number(process.env.CHAOS_RUNS ?? '1')
const first = Number(process.env.CHAOS_FIRST_SEED ?? (runs > 1 ? String(Date.now() % 100_000) : '1'))
const durationMs = Number(process.env.CHAOS_DURATION_MS ?? '20000')
const seeds = replay !== null ? [replay] : Array.from({ length: runs }, (_, i) => first + i)
// Primary/replica workloads too (linearizable registers, the bank over 2PC): CHAOS_MODE1=1.
const mode1 = process.env.CHAOS_MODE1 === '1'

describe('chaos: leaderless tables under a seeded nemesis (3 real nodes)', () => {
  for (const seed of seeds) {
    it(`seed ${seed}: no acknowledged write lost, no acknowledged delete back, no stale quorum read, replicas identical after healing`, async () => {
      const report = await runChaos({ seed, durationMs, mode1 })
      expect(report.steps.length).toBeGreaterThan(0)
      expect(report.ok).toBeGreaterThan(0)
      const none = { crashed: 0, 'slow-stop': 0, lost: 0, resurrected: 0, phantom: 0, divergent: 0, 'stale-read': 0, 'future-read': 0, ...(mode1 ? { 'non-linearizable': 0, 'bank-total': 0 } : {}) }
      expect(report.anomalies.counts, `${report.summary}\n${report.anomalies.examples.join('\n')}\nkept in ${report.keptIn}`).toEqual(none)
      expect(report.recoveryMs, report.summary).not.toBeNull()
      expect(report.recoveryMs!, `${report.summary}: recovery over the one-minute bound; kept in ${report.keptIn}`).toBeLessThanOrEqual(RECOVERY_BOUND_MS)
    }, durationMs + 300_000)
  }
})
