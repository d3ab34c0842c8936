import { describe, expect, it } from 'vitest'
import { CatalogSync, CONTACT_TICKS, MAX_QUEUED_DDL, type CatalogSyncOutput, type MemberCatalog } from '../../../src/cluster/catalog-sync/machine'
import type { MemberState } from '../../../src/cluster/gossip/types'
import { ScratchBirdError } from '../../../src/core/errors'
import { asNodeId, type NodeId } from '../../../src/core/ids'

// The catalog-sync machine alone, driven input by input (the simulation runs several over a
// network: tests/sim/catalog.sim.test.ts). A catalog here is a version and a label.

interface Cat { version: number, label: string }
type Out = CatalogSyncOutput<Cat, string, string>

const cat = (version: number, label = `v${version}`): Cat => ({ version, label })
const member = (nodeId: NodeId, state: MemberState, catalogVersion: number): MemberCatalog => ({ nodeId, state, catalogVersion })

function machine (selfId: NodeId, members: NodeId[], catalog = cat(0), maxQueuedDdl?: number): CatalogSync<Cat, string, string> {
  return new CatalogSync<Cat, string, string>({ selfId, members, catalog, same: (a, b) => a.label === b.label, maxQueuedDdl })
}

const of = <T extends Out['type']>(outs: Out[], type: T): Array<Extract<Out, { type: T }>> => outs.filter((o): o is Extract<Out, { type: T }> => o.type === type)
const unreachable = (): ScratchBirdError => new ScratchBirdError('SB_NODE_UNREACHABLE', 'gone')

/** Starts `m` with every peer in `view` and answers the startup fetches with `answers` (missing: failed). */
function started (m: CatalogSync<Cat, string, string>, view: MemberCatalog[], answers: Record<number, Cat> = {}): Out[] {
  m.observe(view)
  const outs: Out[] = []
  for (const f of of(m.start(), 'fetch')) {
    const c = answers[f.to]
    outs.push(...(c === undefined ? m.onCallFailed(f.call, unreachable()) : m.onFetched(f.call, c)))
  }
  expect(m.confirmed).toBe(true)
  return outs
}

describe('catalog sync machine', () => {
  it('chooses the lowest configured id alive in its view as coordinator (itself always alive)', () => {
    const m = machine(asNodeId(3), [asNodeId(1), asNodeId(2), asNodeId(3)])
    expect(m.coordinator()).toBe(3) // nobody heard of yet
    m.observe([member(asNodeId(1), 'down', 0), member(asNodeId(2), 'suspect', 0)])
    expect(m.coordinator()).toBe(2)
    m.observe([member(asNodeId(1), 'normal', 0), member(asNodeId(2), 'normal', 0)])
    expect(m.coordinator()).toBe(1)
    m.observe([member(asNodeId(1), 'left', 0), member(asNodeId(2), 'down', 0), member(asNodeId(4), 'normal', 0)]) // 4 is not configured
    expect(m.coordinator()).toBe(3)
  })

  it('forwards DDL to the coordinator and adopts the catalog that comes back with the answer', () => {
    const m = machine(asNodeId(2), [asNodeId(1), asNodeId(2), asNodeId(3)], cat(3))
    started(m, [member(asNodeId(1), 'normal', 3), member(asNodeId(3), 'normal', 3)])
    const [fwd] = of(m.submit(7, 'CREATE a'), 'forward')
    expect(fwd).toMatchObject({ to: 1, op: 7, statement: 'CREATE a' })
    const outs = m.onForwarded(fwd!.call, 'CREATE TABLE', cat(4))
    expect(outs).toEqual([{ type: 'adopt', catalog: cat(4), from: 1 }, { type: 'ddl-done', op: 7, result: 'CREATE TABLE' }])
    expect(m.version).toBe(4)
  })

  it('forwards on a statement a peer forwarded when it knows a lower id alive (never to a higher one: no loops)', () => {
    const m = machine(asNodeId(2), [asNodeId(1), asNodeId(2), asNodeId(3)], cat(3))
    started(m, [member(asNodeId(1), 'normal', 3), member(asNodeId(3), 'normal', 3)], { 1: cat(3), 3: cat(3) })
    expect(of(m.coordinate(5, 'CREATE b'), 'forward')).toEqual([expect.objectContaining({ to: 1, op: 5 })])
    m.observe([member(asNodeId(1), 'down', 3), member(asNodeId(3), 'normal', 3)])
    for (let i = 0; i <= CONTACT_TICKS; i++) m.tick() // its answer to our startup round no longer counts
    const fetches = of(m.coordinate(6, 'CREATE c'), 'fetch')
    expect(fetches.map(f => f.to)).toEqual([3])
  })

  it('counts a member that called it as alive for a while, before gossip shows it', () => {
    const m = machine(asNodeId(2), [asNodeId(1), asNodeId(2)], cat(3))
    started(m, [member(asNodeId(1), 'down', 3)])
    expect(m.coordinator()).toBe(2)
    m.contact(asNodeId(1)) // node 1 is back: its startup round fetched from us
    expect(m.coordinator()).toBe(1)
    for (let i = 0; i < CONTACT_TICKS; i++) m.tick()
    expect(m.coordinator()).toBe(1)
    m.tick()
    expect(m.coordinator()).toBe(2)
  })

  it('hands a statement to a lower id heard from during its fetch round instead of running it', () => {
    const m = machine(asNodeId(2), [asNodeId(1), asNodeId(2), asNodeId(3)], cat(3))
    started(m, [member(asNodeId(1), 'down', 3), member(asNodeId(3), 'normal', 3)], { 3: cat(3) })
    m.observe([member(asNodeId(1), 'down', 3), member(asNodeId(3), 'normal', 3)])
    const [f] = of(m.submit(1, 'A'), 'fetch')
    expect(f).toMatchObject({ to: 3 })
    m.contact(asNodeId(1)) // node 1 called meanwhile
    expect(m.onFetched(f!.call, cat(3))).toEqual([expect.objectContaining({ type: 'forward', to: 1, op: 1, statement: 'A' })])
    expect(m.idle).toBe(true)
  })

  it('waits, as the lower id, for a higher id that is running a statement, and retries on a tick', () => {
    const m = machine(asNodeId(1), [asNodeId(1), asNodeId(2)], cat(3))
    started(m, [member(asNodeId(2), 'normal', 3)], { 2: cat(3) })
    const [f] = of(m.submit(1, 'A'), 'fetch')
    expect(m.onFetched(f!.call, cat(3), true)).toEqual([]) // node 2 is coordinating: wait
    expect(m.coordinating).toBe(false)
    const [again] = of(m.tick(), 'fetch')
    expect(again).toMatchObject({ to: 2 })
    expect(m.onFetched(again!.call, cat(4), false)).toEqual([{ type: 'adopt', catalog: cat(4), from: 2 }, { type: 'run-ddl', op: 1, statement: 'A' }])
  })

  it('fails a forwarded DDL whose call failed, changing nothing', () => {
    const m = machine(asNodeId(2), [asNodeId(1), asNodeId(2)], cat(3))
    started(m, [member(asNodeId(1), 'normal', 3)], { 1: cat(3) })
    const [fwd] = of(m.submit(1, 'CREATE a'), 'forward')
    expect(m.onCallFailed(fwd!.call, unreachable())).toEqual([{ type: 'ddl-failed', op: 1, error: expect.objectContaining({ code: 'SB_NODE_UNREACHABLE' }) }])
    expect(m.version).toBe(3)
  })

  it('on the coordinator: fetches from every member not known down, adopts the newest, runs, pushes to the live ones, then answers', () => {
    const m = machine(asNodeId(1), [asNodeId(1), asNodeId(2), asNodeId(3), asNodeId(4)], cat(5))
    started(m, [member(asNodeId(2), 'normal', 5), member(asNodeId(3), 'normal', 5), member(asNodeId(4), 'down', 2)], { 2: cat(5), 3: cat(5) })
    m.observe([member(asNodeId(2), 'normal', 5), member(asNodeId(3), 'normal', 6), member(asNodeId(4), 'down', 2)])
    const fetches = of(m.submit(1, 'CREATE a'), 'fetch')
    expect(fetches.map(f => f.to)).toEqual([2, 3])
    expect(m.onFetched(fetches[0]!.call, cat(5))).toEqual([])
    const after = m.onFetched(fetches[1]!.call, cat(6))
    expect(after).toEqual([{ type: 'adopt', catalog: cat(6), from: 3 }, { type: 'run-ddl', op: 1, statement: 'CREATE a' }])
    const pushes = of(m.ddlRan(1, { ok: true, result: 'CREATE TABLE', catalog: cat(7) }), 'push')
    expect(pushes.map(p => [p.to, p.catalog.version])).toEqual([[2, 7], [3, 7]])
    expect(m.onPushed(pushes[0]!.call, 7)).toEqual([])
    expect(m.version).toBe(6) // pushed first, installed once every push settled
    expect(m.onPushed(pushes[1]!.call, 7)).toEqual([
      { type: 'install', op: 1, catalog: cat(7) },
      { type: 'ddl-done', op: 1, result: 'CREATE TABLE' }
    ])
    expect(m.version).toBe(7)
  })

  it('answers only when a majority of the members holds the new version (itself included)', () => {
    const m = machine(asNodeId(1), [asNodeId(1), asNodeId(2), asNodeId(3), asNodeId(4), asNodeId(5)], cat(5))
    const view = [member(asNodeId(2), 'normal', 5), member(asNodeId(3), 'normal', 5), member(asNodeId(4), 'down', 5), member(asNodeId(5), 'down', 5)]
    started(m, view, { 2: cat(5), 3: cat(5) })
    for (const [op, answers] of [[1, [6, 6]], [2, [7, null]]] as const) {
      for (const f of of(m.submit(op, `S${op}`), 'fetch')) m.onFetched(f.call, m.catalog)
      const pushes = of(m.ddlRan(op, { ok: true, result: `S${op} done`, catalog: cat(5 + op) }), 'push')
      m.onPushed(pushes[0]!.call, answers[0])
      const outs = answers[1] === null ? m.onCallFailed(pushes[1]!.call, unreachable()) : m.onPushed(pushes[1]!.call, answers[1])
      if (op === 1) {
        expect(outs).toEqual([{ type: 'install', op: 1, catalog: cat(6) }, { type: 'ddl-done', op: 1, result: 'S1 done' }])
      } else {
        // 2 of 5 hold version 7: not answered as done, not installed here; its outcome is unknown.
        expect(outs).toEqual([
          { type: 'push-failed', to: 3, version: 7, error: expect.objectContaining({ code: 'SB_NODE_UNREACHABLE' }) },
          { type: 'ddl-failed', op: 2, error: expect.objectContaining({ code: 'SB_QUORUM_NOT_ACHIEVED', details: expect.objectContaining({ available_replicas: 2, required_replicas: 3 }) }) }
        ])
      }
    }
    expect(m.version).toBe(6)
  })

  it('fails a DDL when a member gossip shows ahead could not be fetched from (never builds on a stale catalog)', () => {
    const m = machine(asNodeId(1), [asNodeId(1), asNodeId(2), asNodeId(3)], cat(5))
    started(m, [member(asNodeId(2), 'normal', 5), member(asNodeId(3), 'normal', 5)], { 2: cat(5), 3: cat(5) })
    m.observe([member(asNodeId(2), 'normal', 8), member(asNodeId(3), 'normal', 5)])
    const fetches = of(m.submit(1, 'CREATE a'), 'fetch')
    m.onFetched(fetches[1]!.call, cat(5))
    const outs = m.onCallFailed(fetches[0]!.call, unreachable())
    expect(outs).toEqual([{ type: 'ddl-failed', op: 1, error: expect.objectContaining({ code: 'SB_NODE_UNREACHABLE', details: { node: 2 } }) }])
    // A failed fetch from a member that is not ahead does not matter.
    const again = of(m.submit(2, 'CREATE b'), 'fetch')
    m.observe([member(asNodeId(2), 'normal', 5), member(asNodeId(3), 'normal', 5)])
    m.onCallFailed(again[0]!.call, unreachable())
    expect(m.onFetched(again[1]!.call, cat(5))).toEqual([{ type: 'run-ddl', op: 2, statement: 'CREATE b' }])
  })

  it('runs one statement at a time; the next one starts with a fresh fetch round after the first answered', () => {
    const m = machine(asNodeId(1), [asNodeId(1), asNodeId(2)], cat(1))
    started(m, [member(asNodeId(2), 'normal', 1)], { 2: cat(1) })
    const [f1] = of(m.submit(1, 'A'), 'fetch')
    expect(m.submit(2, 'B')).toEqual([]) // queued
    expect(m.queued).toBe(1)
    expect(of(m.onFetched(f1!.call, cat(1)), 'run-ddl')).toHaveLength(1)
    const [p1] = of(m.ddlRan(1, { ok: true, result: 'A done', catalog: cat(2) }), 'push')
    const outs = m.onPushed(p1!.call, 2)
    expect(outs.slice(0, 2)).toEqual([{ type: 'install', op: 1, catalog: cat(2) }, { type: 'ddl-done', op: 1, result: 'A done' }])
    expect(outs[2]).toMatchObject({ type: 'fetch', to: 2 })
    expect(m.queued).toBe(0)
  })

  it('answers a statement that changed nothing without pushing', () => {
    const m = machine(asNodeId(1), [asNodeId(1), asNodeId(2)], cat(3))
    started(m, [member(asNodeId(2), 'normal', 3)], { 2: cat(3) })
    const [f] = of(m.submit(1, 'CREATE IF NOT EXISTS a'), 'fetch')
    m.onFetched(f!.call, cat(3))
    expect(m.ddlRan(1, { ok: true, result: 'skipped', catalog: null })).toEqual([{ type: 'ddl-done', op: 1, result: 'skipped' }])
    expect(m.version).toBe(3)
  })

  it('does not install a version that lost to a concurrent coordinator meanwhile: SB_CATALOG_CONFLICT', () => {
    const m = machine(asNodeId(1), [asNodeId(1), asNodeId(2)], cat(3))
    started(m, [member(asNodeId(2), 'normal', 3)], { 2: cat(3) })
    const [f] = of(m.submit(1, 'A'), 'fetch')
    m.onFetched(f!.call, cat(3))
    const [p] = of(m.ddlRan(1, { ok: true, result: 'A done', catalog: cat(4, 'ours') }), 'push')
    expect(m.onPush(asNodeId(2), cat(4, 'theirs'))).toEqual([{ type: 'adopt', catalog: cat(4, 'theirs'), from: 2 }])
    expect(m.onPushed(p!.call, 4)).toEqual([{ type: 'ddl-failed', op: 1, error: expect.objectContaining({ code: 'SB_CATALOG_CONFLICT' }) }])
    expect(m.catalog.label).toBe('theirs')
  })

  it('answers a statement whose catalog came back by catch-up before its pushes settled', () => {
    const m = machine(asNodeId(1), [asNodeId(1), asNodeId(2), asNodeId(3)], cat(3))
    started(m, [member(asNodeId(2), 'normal', 3), member(asNodeId(3), 'normal', 3)], { 2: cat(3), 3: cat(3) })
    const fetches = of(m.submit(1, 'A'), 'fetch')
    for (const f of fetches) m.onFetched(f.call, cat(3))
    const pushes = of(m.ddlRan(1, { ok: true, result: 'A done', catalog: cat(4, 'ours') }), 'push')
    m.onPushed(pushes[0]!.call, 4)
    m.observe([member(asNodeId(2), 'normal', 4), member(asNodeId(3), 'normal', 3)])
    const [f] = m.tick()
    expect(m.onFetched((f as { call: number }).call, cat(4, 'ours'))).toEqual([{ type: 'adopt', catalog: cat(4, 'ours'), from: 2 }])
    expect(m.onPushed(pushes[1]!.call, 4)).toEqual([{ type: 'ddl-done', op: 1, result: 'A done' }])
  })

  it('reports a statement that failed here and goes on with the next', () => {
    const m = machine(asNodeId(1), [asNodeId(1)], cat(1))
    started(m, [])
    expect(m.submit(1, 'bad')).toEqual([{ type: 'run-ddl', op: 1, statement: 'bad' }])
    const error = new ScratchBirdError('SB_DUPLICATE_TABLE', 'exists')
    expect(m.ddlRan(1, { ok: false, error })).toEqual([{ type: 'ddl-failed', op: 1, error }])
    expect(m.submit(2, 'good')).toEqual([{ type: 'run-ddl', op: 2, statement: 'good' }])
  })

  it('bounds the queue: a statement beyond it is refused with SB_DDL_QUEUE_FULL', () => {
    const m = machine(asNodeId(1), [asNodeId(1)], cat(1), 2)
    started(m, [])
    m.submit(1, 'running')
    m.submit(2, 'q1')
    m.submit(3, 'q2')
    const outs = m.submit(4, 'too many')
    expect(outs).toEqual([{ type: 'ddl-failed', op: 4, error: expect.objectContaining({ code: 'SB_DDL_QUEUE_FULL' }) }])
    expect(MAX_QUEUED_DDL).toBeGreaterThan(0)
  })

  it('adopts a pushed catalog only when newer', () => {
    const m = machine(asNodeId(2), [asNodeId(1), asNodeId(2)], cat(4))
    started(m, [member(asNodeId(1), 'normal', 4)], { 1: cat(4) })
    expect(m.onPush(asNodeId(1), cat(3))).toEqual([])
    expect(m.onPush(asNodeId(1), cat(4, 'other'))).toEqual([]) // confirmed: a same-version catalog never replaces ours
    expect(m.onPush(asNodeId(1), cat(5))).toEqual([{ type: 'adopt', catalog: cat(5), from: 1 }])
    expect(m.version).toBe(5)
  })

  it('catches up: fetches from a live member that announces a newer version, one fetch at a time, retried on the next tick', () => {
    const m = machine(asNodeId(3), [asNodeId(1), asNodeId(2), asNodeId(3)], cat(2))
    started(m, [member(asNodeId(1), 'normal', 2), member(asNodeId(2), 'normal', 2)], { 1: cat(2), 2: cat(2) })
    expect(m.tick()).toEqual([])
    m.observe([member(asNodeId(1), 'down', 9), member(asNodeId(2), 'normal', 4)])
    const [f] = m.tick()
    expect(f).toMatchObject({ type: 'fetch', to: 2 })
    expect(m.tick()).toEqual([]) // one in flight
    expect(m.behind(asNodeId(2))).toEqual([])
    expect(m.onCallFailed((f as { call: number }).call, unreachable())).toEqual([{ type: 'fetch-failed', to: 2, error: expect.objectContaining({ code: 'SB_NODE_UNREACHABLE' }) }])
    const [g] = m.tick()
    expect(m.onFetched((g as { call: number }).call, cat(4))).toEqual([{ type: 'adopt', catalog: cat(4), from: 2 }])
    expect(m.tick()).toEqual([])
  })

  it('a returning node replaces its unconfirmed catalog by a different one of the same version, and DDL waits for that round', () => {
    // It persisted "v5 mine" as coordinator and stopped before pushing; the others built "v5 theirs".
    const m = machine(asNodeId(1), [asNodeId(1), asNodeId(2), asNodeId(3)], cat(5, 'mine'))
    m.observe([])
    const fetches = of(m.start(), 'fetch')
    expect(fetches.map(f => f.to)).toEqual([2, 3])
    expect(m.submit(1, 'CREATE x')).toEqual([]) // waits for the startup round
    expect(m.onFetched(fetches[0]!.call, cat(5, 'theirs'))).toEqual([{ type: 'adopt', catalog: cat(5, 'theirs'), from: 2 }])
    const outs = m.onCallFailed(fetches[1]!.call, unreachable())
    expect(outs[0]).toMatchObject({ type: 'fetch-failed', to: 3 })
    expect(outs[1]).toMatchObject({ type: 'fetch', to: 2 }) // the queued DDL's own fetch round
    expect(m.confirmed).toBe(true)
    expect(m.catalog.label).toBe('theirs')
  })

  it('ignores answers to calls it no longer waits for', () => {
    const m = machine(asNodeId(1), [asNodeId(1), asNodeId(2)], cat(1))
    expect(m.onFetched(99, cat(9))).toEqual([])
    expect(m.onPushed(99, 1)).toEqual([])
    expect(m.onCallFailed(99, unreachable())).toEqual([])
    expect(m.version).toBe(1)
  })
})
