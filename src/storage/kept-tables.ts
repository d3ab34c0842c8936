// Tables a Mode 1 group's snapshot and truncation leave alone (DESIGN §6: one shard holds the rows
// of every table partitioned into it, whatever its replication mode).
//
// A shard's Mode 1 group replicates its primary_replica tables. The rows of its leaderless_quorum
// tables on this node are not the group's: they arrive by the leaderless coordinator's writes,
// hints, read repair, anti-entropy and the leaderless fill (node/leaderless-bootstrap.ts), stamped
// with their commit HLC (visible without a TIP lookup), and a node can hold them before it is a
// voter of the shard's group — a leaderless table of N = 3 next to a Mode 1 table of N = 2. So a
// bootstrap from a snapshot must not wipe them (the primary's snapshot does not carry this
// node's copy, and a leaderless copy is merged last-writer-wins, never installed raw over
// another), and a truncation of log entries "the new primary lacks" must not unlink them: a log
// written while the shard was not replicated here (role none) holds this node's leaderless
// applies, which no primary ever had (session 15: an acknowledged leaderless row lost that way).
//
// Workers hold no catalog: the main thread names the tables (their ids) with each request. A
// table id is never reused, so a name taken from a catalog a little behind is still right for
// every table it lists; a leaderless table created after it is the documented gap (its rows on a
// node bootstrapping at that moment follow the old rule).

import { ScratchBirdError } from '../core/errors'
import { BACK_SPACE, compareBytes, rowPrefix } from './keys'

type Range = Readonly<{ gte: Uint8Array, lt: Uint8Array }>

/** The key after every key starting with `p`. */
function prefixEnd (p: Uint8Array): Uint8Array {
  const e = p.slice()
  let i = e.length - 1
  while (i >= 0 && e[i] === 0xff) i--
  e[i]!++
  return e.subarray(0, i + 1)
}

export class KeptTables {
  private readonly ids: ReadonlySet<number>
  /** The kept tables' ranges in the row (r/) and back-version (b/) spaces, in key order. */
  readonly ranges: readonly Range[]

  constructor (tableIds: Iterable<number> | undefined) {
    this.ids = new Set(tableIds ?? [])
    const ranges: Range[] = []
    for (const id of this.ids) {
      const r = rowPrefix(id)
      const b = r.slice()
      b[0] = BACK_SPACE.gte[0]!
      ranges.push({ gte: r, lt: prefixEnd(r) }, { gte: b, lt: prefixEnd(b) })
    }
    this.ranges = ranges.sort((x, y) => compareBytes(x.gte, y.gte))
  }

  get size (): number { return this.ids.size }

  has (tableId: number): boolean { return this.ids.has(tableId) }

  /** A row (r/) or back-version (b/) key of a kept table. */
  holds (key: Uint8Array): boolean {
    for (const r of this.ranges) {
      if (compareBytes(key, r.gte) < 0) return false
      if (compareBytes(key, r.lt) < 0) return true
    }
    return false
  }

  /** `space` without the kept tables' ranges: what a wipe of it removes. */
  without (space: Range): Range[] {
    const out: Range[] = []
    let from = space.gte
    for (const r of this.ranges) {
      if (compareBytes(r.lt, from) <= 0 || compareBytes(r.gte, space.lt) >= 0) continue
      if (compareBytes(from, r.gte) < 0) out.push({ gte: from, lt: r.gte })
      from = r.lt
    }
    if (compareBytes(from, space.lt) < 0) out.push({ gte: from, lt: space.lt })
    return out
  }
}

/** No table kept (backups, restores, the leaderless fill: every row is theirs). */
export const NO_KEPT_TABLES = new KeptTables(undefined)

/** A request's field, checked: table ids (u32); absent or empty: none kept. */
export function keptTablesOf (ids: unknown): KeptTables {
  if (ids === undefined || ids === null) return NO_KEPT_TABLES
  const bad = (why: string): never => { throw new ScratchBirdError('SB_BAD_ARGUMENT', `kept tables: ${why}`) }
  if (!Array.isArray(ids) || ids.length > 65_536) return bad('must be an array of at most 65536 table ids')
  for (const id of ids as unknown[]) if (!Number.isInteger(id) || (id as number) < 0 || (id as number) > 0xffffffff) bad(`${String(id)} is not a table id`)
  return ids.length === 0 ? NO_KEPT_TABLES : new KeptTables(ids as number[])
}
