// ALTER TABLE t MOVE … (catalog/table-move.ts): the steps of moving a populated table to a new
// layout, as the statements that travel to the catalog coordinator. Issued by the move itself
// (exec/table-move.ts); an operator may issue MOVE CANCEL, or BY NODE n to hand a stuck move over.
// START names the cluster's shard count: the move records it, so SWITCH can check every shard was copied.
import type { MoveAction, MoveStepSpec, Pos, TableOption } from './ast'
import type { Cursor } from './cursor'

function integer (c: Cursor, what: string): number {
  const t = c.peek()
  if (t.kind !== 'integer' || t.value.length > 9) throw c.error(what)
  c.next()
  return Number(t.value)
}

/** After ALTER TABLE t MOVE: the step. `options` parses the `name = literal, …` list of START. */
export function parseMoveStep (c: Cursor, pos: Pos, options: (c: Cursor) => TableOption[]): MoveAction {
  let step: MoveStepSpec
  if (c.acceptWord('start')) {
    c.wantWord('by')
    c.wantWord('node')
    const node = integer(c, 'a node id (integer)')
    c.wantWord('shards')
    const shards = integer(c, 'the shard count (integer)')
    c.wantWord('set')
    step = { kind: 'start', node, shards, options: options(c) }
  } else if (c.acceptWord('copied')) {
    c.wantWord('shard')
    step = { kind: 'copied', shard: integer(c, 'a shard id (integer)') }
  } else if (c.acceptWord('switch')) {
    step = { kind: 'switch' }
  } else if (c.acceptWord('cancel')) {
    step = { kind: 'cancel' }
  } else if (c.acceptWord('done')) {
    step = { kind: 'done' }
  } else if (c.acceptWord('by')) {
    c.wantWord('node')
    step = { kind: 'take_over', node: integer(c, 'a node id (integer)') }
  } else {
    throw c.error('START, COPIED, SWITCH, CANCEL, DONE or BY NODE')
  }
  return { kind: 'move', pos, step }
}

/** The step as parseMoveStep reads it; `options` formats a `name = literal, …` list. */
export function formatMoveStep (s: MoveStepSpec, options: (o: readonly TableOption[]) => string): string {
  switch (s.kind) {
    case 'start': return `MOVE START BY NODE ${s.node} SHARDS ${s.shards} SET ${options(s.options)}`
    case 'copied': return `MOVE COPIED SHARD ${s.shard}`
    case 'switch': return 'MOVE SWITCH'
    case 'cancel': return 'MOVE CANCEL'
    case 'done': return 'MOVE DONE'
    case 'take_over': return `MOVE BY NODE ${s.node}`
  }
}
