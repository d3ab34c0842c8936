import type { Catalog, TableInfo } from '../catalog/catalog'
import { DECISION_TABLE_ID } from '../cluster/twopc'
import { decisionRecordSide } from '../cluster/shard-split'
import type { ChildSide } from '../cluster/split-derive'
import { ScratchBirdError } from '../core/errors'
import type { ShardId } from '../core/ids'
import { decodeTuple } from '../storage/keys'
import { shardOfRow, tableShape, type TableShape } from '../plan/table-types'
import { decodeRow } from '../types/row-codec'

// Which side of a split a row of parent shard s falls on (cluster/shard-split.ts ROUTING RULE):
// the shard its partition columns hash to among 2n shards, s or s + n — decoded with the catalog's
// shape of its relation, as the router places it (plan/table-types.ts shardOfRow). An index
// relation is partitioned like its rows (a local index by its table's partition key, whose columns
// its entries carry: catalog/indexes.ts), so the same rule places its entries. A 2PC decision
// record sits in shard xid mod n (cluster/twopc), so its side is its xid's. A relation this catalog
// dropped is garbage the parent's purge removes: never the child's. One it does not know yet
// (created on another node, not received here) or a leaderless table stops the derive with a
// coded error: guessing could leave a row out of the child.

/** The side rule for the derive of child `parent + shards`, against `catalog()` read at each use. */
export function childSideOf (catalog: () => Catalog, parent: ShardId, shards: number): ChildSide {
  const child = parent + shards
  const shapes = new Map<number, { version: number, shape: TableShape }>()
  const shapeOf = (t: TableInfo): TableShape => {
    const held = shapes.get(t.id)
    if (held !== undefined && held.version === t.version) return held.shape
    const shape = tableShape(t)
    shapes.set(t.id, { version: t.version, shape })
    return shape
  }
  return (tableId, pkBytes, row) => {
    if (tableId === DECISION_TABLE_ID) {
      const xid = decodeTuple(pkBytes)[0]
      if (typeof xid !== 'bigint') throw new ScratchBirdError('SB_STORAGE_CORRUPT', `shard ${parent}: a 2PC decision record's key is not an xid`, { shard: parent })
      return decisionRecordSide(xid, shards) === 'child'
    }
    const c = catalog()
    const t = c.tableById(tableId)
    if (t === undefined) {
      if (tableId < c.state.nextTableId) return false
      throw derivalRefused(parent, child, `relation ${tableId} is not in this node's catalog yet (created on another node and not received here); retry once it is`, tableId)
    }
    if (t.replication.replication_mode === 'leaderless_quorum') throw derivalRefused(parent, child, `table "${t.name}" is leaderless_quorum (its copy by quorum writes is not built)`, tableId)
    const shape = shapeOf(t)
    return shardOfRow(shape, decodeRow(shape.types, row, shape.missing), shards * 2) === child
  }
}

/** The relations a derive copies from the parent: every relation of the catalog and the 2PC
 *  decision records, ascending; SB_SHARD_SPLIT_UNSUPPORTED when one cannot be split now. */
export function deriveRelations (catalog: Catalog, parent: ShardId, shards: number): number[] {
  const ids: number[] = [DECISION_TABLE_ID]
  for (const t of catalog.tables) {
    if (t.temporary !== undefined) continue
    if (t.replication.replication_mode === 'leaderless_quorum') throw derivalRefused(parent, parent + shards, `table "${t.name}" is leaderless_quorum (its copy by quorum writes is not built)`, t.id)
    if (t.move !== undefined || t.moving !== undefined) throw derivalRefused(parent, parent + shards, `relation "${t.name}" is being moved to a new layout (wait until its ALTER TABLE ends)`, t.id)
    ids.push(t.id)
  }
  return ids.sort((a, b) => a - b)
}

function derivalRefused (parent: ShardId, child: number, why: string, relation: number): ScratchBirdError {
  return new ScratchBirdError('SB_SHARD_SPLIT_UNSUPPORTED', `cannot derive shard ${child} from shard ${parent}: ${why}; nothing more was copied`, { shard: parent, child, relation })
}
