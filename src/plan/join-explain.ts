// EXPLAIN lines of a join: where it runs (inside which shards, or on the coordinator), how each
// table is read and filtered, and each step's hash keys and ON program.
import { disassemble } from '../sblr/disassemble'
import type { Program } from '../sblr/program'
import { MAX_JOIN_ROWS } from '../shard/drivers/join-driver'
import type { JoinPlan } from './join-plan'
import { explainRouting } from './temp-explain'

function program (title: string, p: Program): string[] {
  return [`${title}:`, ...disassemble(p).map(l => `  ${l}`)]
}

/** `derived`: the EXPLAIN lines of a derived table's (or view's) own query. */
export function explainJoin<D> (j: JoinPlan<D>, pushdown: boolean, derived: (plan: D) => string[]): string[] {
  const names = j.sides.map(s => {
    const name = s.kind === 'table' ? s.shape.info.name : s.view ?? '(subquery)'
    return name === s.alias ? s.alias : `${name} ${s.alias}`
  })
  const lines = [`Join ${names.join(', ')}: ${j.routing}`]
  if (j.colocated) {
    lines.push(pushdown ? 'Join and row program run in the shard workers; the coordinator merges' : 'Join runs in the shard workers; the row program runs on the coordinator (it generates UUIDs)')
  } else {
    lines.push(`Coordinator join: each table's filtered rows are fetched (at most ${MAX_JOIN_ROWS} per table) and joined here`)
  }
  j.sides.forEach((s, i) => {
    if (s.kind === 'derived') {
      lines.push(`${s.view === null ? 'Derived table' : `View ${s.view} expanded as`} ${s.alias}: its query runs first, its rows are filtered and joined on the coordinator` +
        (s.moved > 0 ? ` (${s.moved} predicate(s) moved into its query)` : ''))
      lines.push(...derived(s.plan).map(l => `  ${l}`))
      lines.push(...program(`Filter program for ${s.alias}`, s.filter).map(l => `  ${l}`))
      return
    }
    lines.push(`Table ${names[i]!} (table ${s.shape.info.id}): ${j.colocated ? `scanned in the joining shard${s.routing.options.gte !== undefined ? ', point lookup on the primary key' : ''}` : explainRouting(s.shape.info, s.routing.routing, s.routing.options)}`)
    lines.push(...program(`Filter program for ${s.alias}`, s.filter).map(l => `  ${l}`))
  })
  j.steps.forEach((s, k) => {
    const how = s.leftKeys.length > 0 ? `hash join on ${s.keyText.join(' AND ')}` : 'nested loop'
    lines.push(`Step ${k + 1}: ${s.kind.toUpperCase()} JOIN ${names[k + 1]!}, ${how}${s.colocated ? ' (colocated)' : ''}`)
    if (s.on !== null) lines.push(...program('ON program', s.on).map(l => `  ${l}`))
  })
  return lines
}
