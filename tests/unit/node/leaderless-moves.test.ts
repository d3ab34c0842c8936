import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/core/clock'
import { ScratchBirdError } from '../../../src/core/errors'
import { asNodeId, type NodeId } from '../../../src/core/ids'
import type { MoveView } from '../../../src/cluster/membership/leaderless-moves'
import type { FillRequest } from '../../../src/node/leaderless-bootstrap'
import { FILLS_FILE, LeaderlessMoveShell, parseMarks } from '../../../src/node/leaderless-moves'

// The shell of leaderless fills in a join or drain (node/leaderless-moves.ts): it waits until the
// layout settled plus write_timeout_ms, runs its fills one per tick, records each finished one in
// DATA_DIR/leaderless-fills.json before reporting it, does not run a recorded fill again after a
// restart, runs an interrupted one again, and drops marks of another move. The fill itself
// (LeaderlessBootstrap.fillShard) is exercised on real processes (tests/cluster/membership-leaderless.test.ts);
// here its calls are recorded.

const ids = (...xs: number[]): NodeId[] => xs.map(asNodeId)
/** Node 4 joins a 3-node cluster: shards 0 and 1 move to it, node 1 is a source of both. */
const VIEW: MoveView = {
  groups: [{ factor: 3, need: 2, tableIds: [7] }],
  countedPrefs: [ids(1, 2, 3), ids(1, 3, 2), ids(2, 3, 1)],
  placedPrefs: [ids(4, 1, 2, 3), ids(1, 4, 3, 2), ids(2, 3, 1, 4)]
}

function shell (dir: string, o: { settled?: () => boolean, view?: () => MoveView | null, fail?: (req: FillRequest) => boolean } = {}): { s: LeaderlessMoveShell, calls: FillRequest[], clock: ManualClock } {
  const calls: FillRequest[] = []
  const clock = new ManualClock()
  const s = new LeaderlessMoveShell({
    selfId: asNodeId(1),
    dataDir: dir,
    view: o.view ?? (() => VIEW),
    alive: () => true,
    fill: async (req) => {
      calls.push(req)
      if (o.fail?.(req) === true) throw new ScratchBirdError('SB_NODE_UNREACHABLE', 'target down')
      return { keys: 3, bytes: 30 }
    },
    epoch: () => 2,
    settled: o.settled ?? (() => true),
    settleMs: () => 5000,
    clock,
    log: pino({ level: 'silent' })
  })
  return { s, calls, clock }
}

describe('LeaderlessMoveShell', () => {
  it('waits for the layout to settle, then write_timeout_ms, before the first fill', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-llmove-'))
    let settled = false
    const { s, calls, clock } = shell(dir, { settled: () => settled })
    await s.tick()
    clock.advance(10_000)
    await s.tick()
    expect(calls).toEqual([])
    settled = true
    await s.tick()
    clock.advance(4_999)
    await s.tick()
    expect(calls).toEqual([])
    clock.advance(1)
    await s.tick()
    expect(calls.map(c => [c.shard, c.targets, c.tableIds])).toEqual([[0, [4], [7]]])
  })

  it('records each finished fill before reporting it; a restart runs only the fills not recorded', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-llmove-'))
    const a = shell(dir)
    await a.s.tick()
    a.clock.advance(5_000)
    await a.s.tick()
    expect(a.s.finished()).toEqual([{ shard: 0, factor: 3, targets: [4] }])
    expect(parseMarks(readFileSync(join(dir, FILLS_FILE), 'utf8'))).toEqual([{ shard: 0, factor: 3, targets: [4] }])
    // A new process on the same data directory: shard 0 is not filled again, shard 1 is.
    const b = shell(dir)
    expect(b.s.finished()).toEqual([{ shard: 0, factor: 3, targets: [4] }])
    await b.s.tick()
    b.clock.advance(5_000)
    await b.s.tick()
    await b.s.tick()
    expect(b.calls.map(c => c.shard)).toEqual([1])
    expect(b.s.finished().map(m => m.shard)).toEqual([0, 1])
  })

  it('an interrupted fill is not marked and runs again at the next tick', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-llmove-'))
    let fail = true
    const { s, calls, clock } = shell(dir, { fail: () => fail })
    await s.tick()
    clock.advance(5_000)
    await s.tick()
    expect(s.finished()).toEqual([])
    fail = false
    await s.tick()
    expect(calls.map(c => c.shard)).toEqual([0, 0])
    expect(s.finished().map(m => m.shard)).toEqual([0])
  })

  it('a move ended (or another one) drops the old marks; an unreadable file only means filling again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-llmove-'))
    let view: MoveView | null = VIEW
    const { s, clock } = shell(dir, { view: () => view })
    await s.tick()
    clock.advance(5_000)
    await s.tick()
    expect(s.finished().length).toBe(1)
    view = null
    await s.tick()
    expect(s.finished()).toEqual([])
    expect(parseMarks(readFileSync(join(dir, FILLS_FILE), 'utf8'))).toEqual([])
    writeFileSync(join(dir, FILLS_FILE), '{"marks":[{"shard":-1}]}')
    view = VIEW
    expect(shell(dir).s.finished()).toEqual([])
    expect(parseMarks('not json')).toBeNull()
    expect(parseMarks('{"marks":[{"shard":0,"factor":3,"targets":[0]}]}')).toBeNull()
  })
})
