import { ManualClock } from '../../../../src/core/clock'
import { asNodeId, type NodeId } from '../../../../src/core/ids'
import { SeededRng } from '../../../../src/core/rng'
import { ReplicationMachine } from '../../../../src/cluster/replication/machine'
import type {
  DurableState, Outbound, Ready, ReplEntry, ReplInput, ReplicationConfig
} from '../../../../src/cluster/replication/types'

// A deterministic driver for the replication machine's unit tests: machines with their own
// ManualClock, messages queued and delivered only when the test says so (and only to the nodes it
// names), every Ready kept. No network, no randomness but the machines' seeded Rng.

export const ELECTION_MS = 300
export const HEARTBEAT_MS = 50
export const LEASE_MS = 240

export const ids = (...n: number[]): NodeId[] => n.map(asNodeId)

export function data (lsn: number, generation: number, text = `e${lsn}`): ReplEntry {
  return { lsn: BigInt(lsn), generation, kind: 'data', payload: new TextEncoder().encode(text) }
}

export function durable (voters: NodeId[], entries: ReplEntry[] = [], generation = 0, appliedLsn = 0n): DurableState {
  return { hard: { generation, votedFor: 0 }, base: { lsn: 0n, generation: 0, voters }, entries, appliedLsn }
}

export class Group {
  readonly machines = new Map<NodeId, ReplicationMachine>()
  readonly clocks = new Map<NodeId, ManualClock>()
  /** Messages sent and not yet delivered. */
  queue: Array<Outbound & { from: NodeId }> = []
  readonly readys: Array<{ node: NodeId, ready: Ready }> = []

  constructor (readonly config: Omit<ReplicationConfig, 'self'>) {}

  add (id: NodeId, state: DurableState, overrides: Partial<ReplicationConfig> = {}): ReplicationMachine {
    const clock = new ManualClock()
    const m = new ReplicationMachine({ ...this.config, ...overrides, self: id }, state, clock, new SeededRng(id))
    this.machines.set(id, m)
    this.clocks.set(id, clock)
    return m
  }

  m (id: number): ReplicationMachine { return this.machines.get(asNodeId(id))! }

  step (id: number, input: ReplInput): Ready {
    const node = asNodeId(id)
    const r = this.machines.get(node)!.step(input)
    this.readys.push({ node, ready: r })
    for (const o of r.messages) this.queue.push({ ...o, from: node })
    return r
  }

  /** Advance every clock by ms, then tick every machine once. */
  advance (ms: number, tickOnly?: number[]): void {
    for (const c of this.clocks.values()) c.advance(ms)
    for (const id of this.machines.keys()) if (tickOnly === undefined || tickOnly.includes(id)) this.step(id, { type: 'tick' })
  }

  /** Deliver queued messages (and what they cause) among `among` (default: everyone) until quiet; others' messages are dropped. */
  flush (among?: number[]): void {
    for (let rounds = 0; this.queue.length > 0 && rounds < 1000; rounds++) {
      const q = this.queue
      this.queue = []
      for (const o of q) {
        if (among !== undefined && (!among.includes(o.to) || !among.includes(o.from))) continue
        if (!this.machines.has(o.to)) continue
        this.step(o.to, { type: 'message', msg: o.msg })
      }
    }
  }

  /** Ticks `id` past its election timeout, and delivers among `among` until someone is primary. */
  elect (id: number, among?: number[]): void {
    this.clocks.get(asNodeId(id))!.advance(2 * ELECTION_MS)
    for (const [other, c] of this.clocks) if (other !== id) c.advance(ELECTION_MS)
    this.step(id, { type: 'tick' })
    this.flush(among)
  }

  /** Every Ready's field `f` for node `id` since `from` (index into readys). */
  all<K extends keyof Ready> (id: number, f: K, from = 0): Array<Ready[K]> {
    return this.readys.slice(from).filter(r => r.node === id).map(r => r.ready[f])
  }
}
