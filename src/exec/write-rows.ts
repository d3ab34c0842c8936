// Turning SQL values into row writes: assignment casts per column type, NOT NULL, the pk tuple,
// the shard, the row image and a fresh version id (uuid_type v8_hlc → the node's HLC, v7 →
// UUIDv7). Sending them is the table's access method's job (access/).
import type { RowWrite } from '../storage/engine'
import { assignValue } from '../types/cast'
import { assignToColumn, notNullViolation } from '../types/assign-columns'
import { encodeRow } from '../types/row-codec'
import type { SqlValue } from '../types/values'
import type { Generators, ShardPort } from './env'
import { pkTuple, shardOfRow, type TableShape } from '../plan/table-types'
import type { DomainShape } from '../plan/domain-rules'
import type { ShardId } from '../core/ids'

/** Casts each value to its column type and checks NOT NULL (and a domain's rules); errors name the column. */
export function assignRow (t: DomainShape, values: readonly SqlValue[]): SqlValue[] {
  return t.types.map((type, i) => {
    const col = t.info.columns[i]!
    // A dropped column's slot (catalog/alter-columns.ts): whatever the old row held there goes.
    if (col.dropped === true) return null
    // A column of a domain: the domain's assignment (ENUM/SET labels, VARIANT tag), NOT NULL and CHECKs.
    const domain = t.domains?.[i] ?? null
    const v = assignToColumn(col.name, values[i] ?? null, domain !== null ? x => domain.assign(x) : x => assignValue(x, type))
    if (domain !== null) domain.check(v, t.info.name, col.name)
    if (v === null && (col.notNull || domain?.notNull === true)) throw notNullViolation(t.info.name, col.name)
    return v
  })
}

export function versionId (gen: Pick<Generators, 'hlc' | 'uuidV7'>, t: TableShape): Uint8Array {
  return t.info.replication.uuid_type === 'v8_hlc' ? gen.hlc.generate() : gen.uuidV7.generate()
}

export function insertWrite (env: Pick<ShardPort, 'shards'> & Generators, t: TableShape, row: readonly SqlValue[]): { shard: ShardId, write: RowWrite } {
  return {
    shard: shardOfRow(t, row, env.shards),
    write: { op: 'insert', tableId: t.info.id, pk: pkTuple(t, row), row: encodeRow(t.types, row), versionId: versionId(env, t) }
  }
}
