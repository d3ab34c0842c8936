import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ManualClock } from '../../../src/core/clock'
import { asNodeId, asShardId } from '../../../src/core/ids'
import { ShardEngine, type RowWrite } from '../../../src/storage/engine'
import { writeU64 } from '../../../src/storage/keys'
import { LevelKv } from '../../../src/storage/kv-level'
import { MemoryKv, MemoryStore } from '../../../src/storage/kv-memory'
import { hlcTs, type HlcTs } from '../../../src/storage/types'

// Shard replicas on real LevelDB in temporary directories (or the in-memory backend), for the Mode 1 replica tests: a
// primary and replicas of the same shard, writes that produce every kind of log entry, and
// comparisons of everything a replica must hold equal (visible rows, log entries).

export const T = 1
export const T2 = 2
export const SHARD = asShardId(0)
const BASE = 1_767_225_600_000
let hlcSeq = 0
/** Increasing HLCs across a test file. */
export const nextHlc = (): HlcTs => hlcTs(BASE + ++hlcSeq)
let versionSeq = 0
export function vid (): Uint8Array {
  const b = new Uint8Array(16)
  writeU64(b, 0, BigInt(++versionSeq))
  b[8] = 0x80
  return b
}
export const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
export const dec = (b: Uint8Array | null | undefined): string | null => b === null || b === undefined ? null : new TextDecoder().decode(b)

export const ins = (k: string, v: string, tableId = T): RowWrite => ({ op: 'insert', tableId, pk: [k], row: enc(v), versionId: vid() })
export const upd = (k: string, v: string, tableId = T): RowWrite => ({ op: 'update', tableId, pk: [k], row: enc(v), versionId: vid() })
export const del = (k: string, tableId = T): RowWrite => ({ op: 'delete', tableId, pk: [k], versionId: vid() })

/** Both KV backends (DESIGN §10: one suite, two engines): real LevelDB, and the simulator's. */
export const BACKENDS = ['classic-level', 'memory'] as const
export type Backend = typeof BACKENDS[number]
let backend: Backend = 'classic-level'
/** The backend replicas() opens from now on (call in a beforeAll). */
export function useBackend (b: Backend): void { backend = b }

/** A directory (or in-memory store) holding one shard replica, opened and reopened as a node restart would. */
export class Replica {
  readonly dir = mkdtempSync(join(tmpdir(), 'sb-replica-'))
  readonly store = new MemoryStore()
  engine!: ShardEngine
  readonly clock = new ManualClock()
  constructor (readonly nodeId: number, readonly backend: Backend) {}

  async open (): Promise<ShardEngine> {
    const kv = this.backend === 'memory' ? MemoryKv.open(this.store) : await LevelKv.open(this.dir, { writeBufferSize: 1 << 20, cacheSize: 1 << 20 })
    this.engine = await ShardEngine.open(kv, { shardId: SHARD, nodeId: asNodeId(this.nodeId), durability: 'none', clock: this.clock })
    return this.engine
  }

  async restart (): Promise<ShardEngine> {
    await this.engine.close()
    return await this.open()
  }

  async destroy (): Promise<void> {
    await this.engine?.close()
    rmSync(this.dir, { recursive: true, force: true })
  }

  async auto (...writes: RowWrite[]): Promise<bigint> {
    return (await this.engine.autocommit({ writes, commitHlc: nextHlc() })).lsn!
  }
}

export async function replicas (...nodeIds: number[]): Promise<Replica[]> {
  const out: Replica[] = []
  for (const n of nodeIds) { const r = new Replica(n, backend); await r.open(); out.push(r) }
  return out
}

/** Visible rows of a table as "pk=value". */
export async function rows (e: ShardEngine, tableId = T): Promise<string[]> {
  const out: string[] = []
  for await (const r of e.scan(tableId)) out.push(`${String(r.pk[0])}=${dec(r.row)}`)
  return out
}

/** Every log entry, comparable: lsn, generation, xid, commit HLC, mutations. */
export async function logOf (e: ShardEngine): Promise<unknown[]> {
  const raw = await e.replLogRead(e.firstAvailableLsn(), 10_000, Infinity)
  return raw.map(x => ({
    lsn: x.lsn,
    generation: x.generation,
    xid: x.xid,
    commitHlc: x.commitHlc,
    mutations: x.mutations.map(m => [m.tableId, Buffer.from(m.pkBytes).toString('hex'), Buffer.from(m.versionId).toString('hex'), m.row === null ? null : dec(m.row)]),
    ...(x.control === undefined ? {} : { control: x.control })
  }))
}

/** Ship the primary's entries from `fromLsn` to the replica (one apply call). */
export async function ship (from: ShardEngine, to: ShardEngine, fromLsn = to.lastLsn() + 1n): Promise<void> {
  await to.replApply(await from.replLogRead(fromLsn, 10_000, Infinity))
}
