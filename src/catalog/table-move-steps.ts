import { ScratchBirdError } from '../core/errors'
import type { MoveStepSpec, TableOption } from '../sql/ast'
import type { ReplicationOptions } from './replication-options'
import { checkDone, retiredName, shardCopied, startedMove, takenOver, targetName, toCleanup, type MoveRole, type TableMove } from './table-move'

// The catalog side of each step of a table move (the steps and why: table-move.ts): which
// relations a step adds, re-files or removes, at the next catalog version. Pure, like catalog.ts;
// generic over the catalog's relation and state types (what it reads of them is below) so the
// catalog can import it without an import cycle.

/** What a step reads and writes of a relation (catalog.ts TableInfo). */
export interface MoveRelation {
  readonly id: number
  readonly name: string
  readonly version: number
  readonly replication: ReplicationOptions
  readonly foreignKeys: readonly unknown[]
  readonly index?: { readonly of: number } | undefined
  readonly move?: TableMove | undefined
  readonly moving?: MoveRole | undefined
  readonly bootstrap?: unknown
}

/** What a step reads and writes of the catalog's state (catalog.ts CatalogState). */
export interface MoveState<T> {
  readonly version: number
  readonly nextTableId: number
  readonly tables: T[]
  readonly layoutFloor?: number
}

export interface MoveBuilders<TableInfo> {
  /** The constraint index relations of `target` (new ids from target.id + 1), as CREATE TABLE would make them. */
  build: (target: TableInfo, version: number) => TableInfo[]
  /** The table's options after START's `name = literal` list, validated. */
  options: (o: readonly TableOption[]) => ReplicationOptions
}

/** `t` without what belongs to it as a table in place (its move, its bootstrap, a move role). */
function plain<T extends MoveRelation> (t: T): T {
  const { move: _m, bootstrap: _b, moving: _r, ...rest } = t
  return rest as unknown as T
}

/** `t` with `fields` (a relation of the same kind). */
function With<T extends MoveRelation> (t: T, fields: Partial<MoveRelation> & { readonly foreignKeys?: T['foreignKeys'] }): T {
  return { ...t, ...fields }
}

function state (table: string, message: string): ScratchBirdError {
  return new ScratchBirdError('SB_TABLE_MOVE_STATE', message, { table })
}

/** The relations of `t`'s move that have `role`: the table-like one first, then its indexes. */
function relationsOf<T extends MoveRelation> (s: MoveState<T>, t: T, role: MoveRole['role']): T[] {
  const all = s.tables.filter(x => x.moving?.table === t.name && x.moving.role === role)
  return [...all.filter(x => x.index === undefined), ...all.filter(x => x.index !== undefined)]
}

/** Relations re-filed as retired by `t`'s move (their rows are deleted before DONE removes them). */
function retire<T extends MoveRelation> (t: T, rels: readonly T[], version: number): T[] {
  const moving: MoveRole = { table: t.name, role: 'retired' }
  return rels.map(x => With(plain(x), { name: retiredName(t.name, x.name), foreignKeys: [], version, moving }))
}

export function applyMoveStep<T extends MoveRelation, S extends MoveState<T>> (s: S, t: T, step: MoveStepSpec, b: MoveBuilders<T>): { state: S, table: T } {
  const version = s.version + 1
  const swap = (tables: readonly T[], table: T): T[] => tables.map(x => x === t ? table : x)
  if (step.kind === 'start') {
    if (t.move !== undefined) throw state(t.name, `table "${t.name}" is being moved already (phase ${t.move.phase})`)
    if (!Number.isInteger(step.shards) || step.shards < 1) throw state(t.name, `a move needs the cluster's shard count (got ${step.shards})`)
    const replication = b.options(step.options)
    const name = targetName(t.name)
    if (s.tables.some(x => x.name === name)) throw new ScratchBirdError('SB_DUPLICATE_TABLE', `relation "${name}" already exists: the move of "${t.name}" needs the name for its target`, { table: name })
    const moving: MoveRole = { table: t.name, role: 'target' }
    const target = With(plain(t), { id: s.nextTableId, name, replication, version, foreignKeys: [], moving })
    const indexes = b.build(target, version).map(i => With(i, { moving }))
    const table = With(t, { version, move: startedMove(step.node, step.shards) })
    const nextTableId = Math.max(target.id + 1, ...indexes.map(i => i.id + 1))
    // The layout floor: a writer still planning by a catalog without the record is refused by the replicas.
    return { state: { ...s, version, nextTableId, tables: [...swap(s.tables, table), target, ...indexes], layoutFloor: version }, table }
  }
  const m = t.move
  if (m === undefined) throw state(t.name, `table "${t.name}" is not being moved`)
  switch (step.kind) {
    case 'copied': case 'take_over': {
      const move = step.kind === 'copied' ? shardCopied(m, step.shard, t.name) : takenOver(m, step.node)
      const table = With(t, { version, move })
      return { state: { ...s, version, tables: swap(s.tables, table) }, table }
    }
    case 'switch': {
      const move = toCleanup(m, t.name, false)
      const [target, ...targetIndexes] = relationsOf(s, t, 'target')
      if (target === undefined) throw state(t.name, `the move of table "${t.name}" has lost its target relation`)
      const prefix = targetName(t.name)
      // The target's indexes take the names the table's constraints have (`<t>_pkey` …).
      const indexes = targetIndexes.map(i => With(plain(i), { name: i.name.startsWith(prefix) ? t.name + i.name.slice(prefix.length) : i.name, version }))
      const table = With(plain(target), { name: t.name, foreignKeys: t.foreignKeys, version, move })
      const old = [t, ...s.tables.filter(x => x.index?.of === t.id)]
      const gone = new Set<T>([target, ...targetIndexes, ...old.slice(1)])
      const tables = [...swap(s.tables.filter(x => !gone.has(x)), table), ...indexes, ...retire(t, old, version)]
      return { state: { ...s, version, tables, layoutFloor: version }, table }
    }
    case 'cancel': {
      const move = toCleanup(m, t.name, true)
      const targets = relationsOf(s, t, 'target')
      const table = With(t, { version, move })
      const tables = [...swap(s.tables.filter(x => !targets.includes(x)), table), ...retire(t, targets, version)]
      return { state: { ...s, version, tables }, table }
    }
    case 'done': {
      checkDone(m, t.name)
      const retired = new Set(relationsOf(s, t, 'retired'))
      const table = With(plain(t), { version })
      return { state: { ...s, version, tables: swap(s.tables.filter(x => !retired.has(x)), table) }, table }
    }
  }
}
