import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { Catalog } from '../../../src/catalog/catalog'
import { ManualClock } from '../../../src/core/clock'
import { asNodeId, asShardId, type ShardId } from '../../../src/core/ids'
import { ShardWorkers } from '../../../src/node/shard-workers'
import { ddlContext } from '../../../src/plan/column-default'
import { shardOfRow, tableShape, type TableShape } from '../../../src/plan/table-types'
import type { TableDdlStatement } from '../../../src/sql/ast'
import { parseOne } from '../../../src/sql/parser'
import type { RowWrite } from '../../../src/storage/engine'
import { encodeTuple, type Tuple } from '../../../src/storage/keys'
import type { SplitScanRow } from '../../../src/storage/version-scan'
import { encodeRow } from '../../../src/types/row-codec'
import { testWorkerOptions, vid } from './worker-fixtures'

// What the shard-split tests through real workers share (split-derive.test.ts, split-switch.test.ts):
// shard 0 of 2 split into 0 and 2 of 4, a catalog of two tables, rows chosen by the half they
// fall in, the test's own replication shell and version listings.

export const PARENT = asShardId(0)
export const SHARDS = 2
export const CHILD = asShardId(2)

/** Real shard workers of "node" `nodeId` on `dir` holding shards 0 and 1 of 2; `started` keeps them for stopping. */
export async function splitNode (started: ShardWorkers[], nodeId: number, dir = mkdtempSync(join(tmpdir(), 'sb-split-'))): Promise<ShardWorkers> {
  const w = new ShardWorkers(testWorkerOptions(dir, { nodeId: asNodeId(nodeId), clock: new ManualClock() }), pino({ level: 'silent' }), () => {})
  await w.start([[PARENT, asShardId(1)]])
  started.push(w)
  return w
}

function catalog (): Catalog {
  let c = new Catalog()
  for (const sql of [
    'CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT)',
    'CREATE TABLE events (id BIGINT PRIMARY KEY, owner TEXT NOT NULL, body TEXT)',
    "ALTER TABLE events SET partition_key_columns = 'owner'"
  ]) c = c.apply(parseOne(sql) as TableDdlStatement, ddlContext(3)).catalog
  return c
}

export const CAT = catalog()
export const USERS = tableShape(CAT.tableById(CAT.mustTable('users').id)!)
export const EVENTS = tableShape(CAT.tableById(CAT.mustTable('events').id)!)

/** Partition values whose rows live in parent shard 0 of 2, by the half of 4 they fall in. */
export function ownersOf (shape: TableShape, values: (v: string) => unknown[], want: 0 | 2, count: number, tag: string): string[] {
  const out: string[] = []
  for (let i = 0; out.length < count; i++) {
    const v = `${tag}${i}`
    if (shardOfRow(shape, values(v) as never, SHARDS * 2) === want) out.push(v)
  }
  return out
}

export const userRow = (id: string, name: string): Uint8Array => encodeRow(USERS.types, [id, name])
export const eventRow = (id: bigint, owner: string, body: string): Uint8Array => encodeRow(EVENTS.types, [id, owner, body])
export const putUser = (id: string, name: string): RowWrite => ({ op: 'put', tableId: USERS.info.id, pk: [id], row: userRow(id, name), versionId: vid() })
export const delUser = (id: string): RowWrite => ({ op: 'delete', tableId: USERS.info.id, pk: [id], versionId: vid() })
export const putEvent = (id: bigint, owner: string, body: string): RowWrite => ({ op: 'put', tableId: EVENTS.info.id, pk: [id], row: eventRow(id, owner, body), versionId: vid() })

/** The test's replication shell: p's log entries r does not hold yet, applied on r. */
export async function ship (p: ShardWorkers, r: ShardWorkers): Promise<void> {
  const { lastLsn } = await r.request('REPL_STATE_GET', { shard: PARENT })
  const { entries } = await p.request('REPL_LOG_READ', { shard: PARENT, fromLsn: lastLsn + 1n, limit: 10_000, maxBytes: 1 << 24 })
  if (entries.length > 0) await r.request('REPL_APPLY', { shard: PARENT, entries })
}

/** Every version of `tableId` on `shard` of `w` (tombstones left out), as comparable strings. */
export async function versions (w: ShardWorkers, shard: ShardId, tableId: number, keep: (pk: Uint8Array, row: Uint8Array) => boolean = () => true): Promise<string[]> {
  const out: string[] = []
  let after: Tuple | null = null
  for (;;) {
    const { rows }: { rows: SplitScanRow[] } = await w.request('SPLIT_SCAN', { shard, tableId, after, limit: 100 })
    for (const x of rows) {
      if (x.row !== null && keep(encodeTuple(x.pk), x.row)) out.push(`${JSON.stringify(x.pk, (_k, v: unknown) => typeof v === 'bigint' ? String(v) : v)} ${Buffer.from(x.versionId).toString('hex')} ${x.commitHlc} ${Buffer.from(x.row).toString('hex')}`)
    }
    if (rows.length < 100) return out
    after = rows[rows.length - 1]!.pk
  }
}
