// Turning SQL values into row writes: assignment casts per column type, NOT NULL, the pk tuple,
// the shard, the row image and a fresh version id (uuid_type v8_hlc → the node's HLC, v7 →
// UUIDv7) — and sending a statement's writes, one request per shard touched.
import { isScratchBirdError, ScratchBirdError } from '../core/errors'
import { nextHlcTs } from '../storage/hlc-ts'
import type { RowWrite } from '../storage/engine'
import { assignValue } from '../types/cast'
import { encodeRow } from '../types/row-codec'
import type { SqlValue } from '../types/values'
import type { ExecEnv } from './env'
import { pkTuple, shardOfRow, type TableShape } from '../plan/table-types'
import { SqlTxn } from './txn'

/** Casts each value to its column type and checks NOT NULL; errors name the column. */
export function assignRow (t: TableShape, values: readonly SqlValue[]): SqlValue[] {
  return t.types.map((type, i) => {
    const col = t.info.columns[i]!
    let v: SqlValue
    try {
      v = assignValue(values[i] ?? null, type)
    } catch (e) {
      if (isScratchBirdError(e)) throw new ScratchBirdError(e.code, `column "${col.name}": ${e.message}`, { ...e.details, column: col.name })
      throw e
    }
    if (v === null && col.notNull) {
      throw new ScratchBirdError('SB_NOT_NULL_VIOLATION', `null value in column "${col.name}" of relation "${t.info.name}" violates not-null constraint`, { table: t.info.name, column: col.name })
    }
    return v
  })
}

export function versionId (env: ExecEnv, t: TableShape): Uint8Array {
  return t.info.replication.uuid_type === 'v8_hlc' ? env.hlc.generate() : env.uuidV7.generate()
}

export type ShardWrites = Map<number, RowWrite[]>

export function addWrite (out: ShardWrites, shard: number, w: RowWrite): void {
  const list = out.get(shard)
  if (list === undefined) out.set(shard, [w])
  else list.push(w)
}

export function insertWrite (env: ExecEnv, t: TableShape, row: readonly SqlValue[]): { shard: number, write: RowWrite } {
  return {
    shard: shardOfRow(t, row, env.shards),
    write: { op: 'insert', tableId: t.info.id, pk: pkTuple(t, row), row: encodeRow(t.types, row), versionId: versionId(env, t) }
  }
}

/**
 * Sends the writes: inside `txn` when one is open; otherwise as an autocommit statement — one
 * AUTOCOMMIT for a single shard, a transaction committed by two-phase commit for several, so
 * the statement is atomic either way. Returns how many rows were affected.
 */
export async function sendWrites (env: ExecEnv, writes: ShardWrites, txn: SqlTxn | null): Promise<number> {
  const count = (a: boolean[]): number => a.filter(Boolean).length
  if (txn !== null) {
    const res = await Promise.all([...writes].map(([shard, w]) => txn.write(shard, w)))
    return res.reduce((n, a) => n + count(a), 0)
  }
  if (writes.size === 0) return 0
  if (writes.size === 1) {
    const [shard, w] = [...writes][0]!
    return count((await env.request('AUTOCOMMIT', { shard, writes: w, commitHlc: nextHlcTs(env.hlc) })).affected)
  }
  const implicit = new SqlTxn(env, 'read_committed', false)
  try {
    const n = await sendWrites(env, writes, implicit)
    await implicit.commit()
    return n
  } catch (e) {
    await implicit.rollback()
    throw e
  }
}
