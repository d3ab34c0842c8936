// A pk-pinned UPDATE / DELETE in ONE shard request (issue 16). The two-step path (modify.ts) reads
// the row into the coordinator (QUERY), computes the new version there and writes it back (WRITE):
// two ring round trips per statement, three with an autocommit's COMMIT. When the WHERE pins the
// whole primary key — at most one row, on one shard — and nothing about the statement needs the
// coordinator between the read and the write, the shard worker does all of it in one MODIFY_ROW
// (shard/drivers/modify-driver.ts), with the version id made here in advance; an autocommit
// statement is also committed by that request. What needs the coordinator, and so keeps the two
// steps, is listed once, in pointModifyRefusal.
import { isScratchBirdError } from '../core/errors'
import type { Catalog } from '../catalog/catalog'
import { serialize, type Program } from '../sblr/program'
import { timestampFromMillis } from '../types/datetime'
import type { SqlValue } from '../types/values'
import { encodeRows } from '../shard/protocol/value-rows'
import type { TupleValue } from '../storage/keys'
import { hasForeignKeys, type ForeignKeyPorts } from './foreign-keys'
import type { ModifyPlan } from './modify-plan'
import type { TableAccess } from './access/table-access'
import type { SqlTxn } from './txn'
import { versionId } from './write-rows'

/**
 * Why `p` must run in two steps, or null when one MODIFY_ROW does what they would (pure: the plan
 * and the catalog it was made from decide). The table's access must also offer modifyRow (MGA
 * tables do; leaderless and temporary ones do not).
 */
export function pointModifyRefusal (p: ModifyPlan, catalog: Catalog): string | null {
  const t = p.shape
  const r = p.routing
  if (r.options.exact !== true || r.options.gte === undefined || r.shards.length !== 1 || r.index !== undefined || r.local !== undefined) return 'the WHERE does not pin the whole primary key'
  if (t.info.replication.replication_mode === 'leaderless_quorum') return 'a leaderless table (its writes go to a quorum of replicas)'
  if (p.returning !== null) return 'RETURNING (computed on the coordinator)'
  if (p.indexes.length > 0) return 'the table has indexes (their entries are written from the coordinator)'
  if (hasForeignKeys(catalog, t.info)) return 'the table takes part in a foreign key (checked on the coordinator)'
  if (t.domains?.some(d => d !== null && d !== undefined) === true) return 'a column of a domain (its rules run on the coordinator)'
  if (p.assignVolatile) return 'the SET calls a UUID generator (it runs where the node\'s HLC is)'
  if (p.targets.some(i => t.pk.includes(i))) return 'the SET changes the primary key (a new row)'
  return null
}

/** Programs serialised once: a cached plan (plan-cache.ts) keeps its Program objects across executions. */
const serialised = new WeakMap<Program, Uint8Array>()
function bytesOf (p: Program): Uint8Array {
  let b = serialised.get(p)
  if (b === undefined) serialised.set(p, b = serialize(p))
  return b
}

/** Does `p` run as one MODIFY_ROW through `access`? */
export function oneRequest (access: TableAccess, p: ModifyPlan, catalog: Catalog): boolean {
  return access.modifyRow !== undefined && pointModifyRefusal(p, catalog) === null
}

/** EXPLAIN's line on a statement pinned to one row by its primary key (null for any other). */
export function explainPointModify (access: TableAccess, p: ModifyPlan, catalog: Catalog): string | null {
  if (p.routing.options.exact !== true) return null
  if (oneRequest(access, p, catalog)) return 'One shard request: the shard reads the row, filters it, computes the SET and writes the new version'
  const why = access.modifyRow === undefined ? 'the table\'s access method writes through the coordinator' : pointModifyRefusal(p, catalog)
  return `Two steps: the row is read into the coordinator, then written (${why})`
}

/**
 * Runs `p` as one MODIFY_ROW when pointModifyRefusal allows it: the rows affected. null: it must
 * run in two steps — refused, or the shard's node is of a release without MODIFY_ROW
 * (SB_CODEC_VERSION: nothing was applied there, and a transaction's first request that failed
 * leaves the shard not joined, txn.ts on()).
 */
export async function pointModify (env: ForeignKeyPorts, access: TableAccess, p: ModifyPlan, params: readonly SqlValue[], txn: SqlTxn | null): Promise<number | null> {
  const modifyRow = access.modifyRow?.bind(access)
  if (modifyRow === undefined || !oneRequest(access, p, env.catalog())) return null
  const t = p.shape
  const info = t.info
  const flagged = (f: (i: number) => boolean): number[] => info.columns.flatMap((_, i) => f(i) ? [i] : [])
  try {
    return await modifyRow(p.routing.shards[0]!, {
      shard: p.routing.shards[0]!,
      tableId: info.id,
      table: info.name,
      pk: p.routing.options.gte as TupleValue[],
      filter: bytesOf(p.filter),
      assign: p.assign === null ? null : bytesOf(p.assign),
      targets: p.targets,
      notNull: flagged(i => info.columns[i]!.notNull),
      dropped: flagged(i => info.columns[i]!.dropped === true),
      params: encodeRows([params]),
      statementMicros: timestampFromMillis(env.clock.now()).micros,
      versionId: versionId(env, t)
    }, txn)
  } catch (e) {
    if (isScratchBirdError(e, 'SB_CODEC_VERSION')) return null
    throw e
  }
}
