// EXPLAIN lines of a SELECT plan: where its rows come from (a table's shards, a join, a system
// table, a derived table or expanded view — whose own query is explained beneath, indented), then
// the row program and the coordinator's aggregate program.
import { disassemble } from '../sblr/disassemble'
import type { Program } from '../sblr/program'
import { explainJoin } from '../plan/join-explain'
import { explainRouting } from '../plan/temp-explain'
import { keyListRouting } from '../plan/key-lists'
import { pointList } from './index-lookup'
import type { SelectPlan } from '../plan/select-plan'
import { tableAccess, type AccessPorts } from './access/choose'
import type { TableInfo } from '../catalog/catalog'
import type { ShardId } from '../core/ids'

function programLines (title: string, p: Program): string[] {
  return [`${title}:`, ...disassemble(p).map(l => `  ${l}`)]
}

const indent = (lines: readonly string[]): string[] => lines.map(l => `  ${l}`)

/** Lines naming where a table's shards are read (read_from = replica: exec/replica-reads.ts); null: at their primaries, nothing to add. */
export type ReadNotes = ((info: TableInfo, shards: readonly ShardId[]) => string[]) | null

export function explainSelect (env: AccessPorts, p: SelectPlan, notes: ReadNotes = null): string[] {
  const lines: string[] = []
  const src = p.source
  if (src.kind === 'table') {
    // A key list the table reads by point reads (exec/index-lookup.ts pointList), else the routing as planned.
    const keys = pointList(env, src.shape, src)
    lines.push(`Scan ${src.shape.info.name} (table ${src.shape.info.id}): ${keys !== undefined ? keyListRouting(keys) : explainRouting(src.shape.info, src.routing, src.options)}`)
    lines.push(...tableAccess(env, src.shape.info).explainRead(src.shards, src.options, p.pushdown, keys))
    if (notes !== null) lines.push(...notes(src.shape.info, src.shards))
  } else if (src.kind === 'join') {
    lines.push(...explainJoin(src.join, p.pushdown, d => explainSelect(env, d, notes)))
  } else if (src.kind === 'rows') {
    lines.push(`Subqueries per row on the coordinator, over ${src.fetch === null ? 'one row (no table)' : 'the rows fetched once per statement'}`)
    if (src.fetch !== null && src.fetch.source.kind !== 'table' && src.fetch.source.kind !== 'join') lines.push(...indent(explainSelect(env, src.fetch, notes)))
  } else if (src.kind === 'derived') {
    const what = src.view === null ? `Derived table ${src.alias}` : `View ${src.view} expanded${src.alias === src.view ? '' : ` as ${src.alias}`}`
    const moved = src.moved > 0 ? ` (${src.moved} WHERE predicate(s) moved into its query)` : ''
    lines.push(`${what}: its query runs first, then this query over its rows on the coordinator${moved}`)
    lines.push(...indent(explainSelect(env, src.plan, notes)))
  } else lines.push(src.kind === 'system' ? `Scan system table ${src.name} on the coordinator` : 'No table: runs once on the coordinator')
  lines.push(...programLines('Row program', p.scan))
  if (p.aggregate !== null) lines.push(...programLines('Coordinator program (after merging partial aggregates)', p.aggregate.final))
  return lines
}
