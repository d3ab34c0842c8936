import { ScratchBirdError } from '../core/errors'

// Write fences of a shard replica (issue 13 items 3/4: a DDL that needs an empty table).
//
// A DDL that re-lays a table out (new partition key, new replication mode, a raised N) is safe
// only on a table without rows, and "without rows" must still hold when the catalog changes. The
// DDL's node therefore fences the table on every replica of every shard first, then asks each
// replica whether it holds a row, and only then changes the catalog. A fence refuses, from the
// moment it is set:
//   · row writes of the table (statements in transactions, autocommit statements, replica and
//     hint writes): SB_TABLE_ALTERING, nothing written — a definite refusal, not an unknown outcome;
//   · the COMMIT or PREPARE of a transaction that wrote the table before the fence (its versions
//     are not committed yet, so the probe could not see them): the transaction fails and rolls back.
// It lets through what is already decided: 2PC decisions of prepared transactions (the probe
// counts a prepared transaction's rows as rows: the DDL is refused instead).
// A transaction that wrote the table before a fence stays refused after the fence lifts: each
// fence raises the table's fence generation, a transaction notes the generation of each table it
// writes at its first write there, and COMMIT / PREPARE refuse a transaction whose noted
// generation is behind (checkSince). Otherwise a transaction left open across a DDL (an explicit
// one, waiting for its client) could commit rows placed by the old layout once the fence lifted —
// into a table whose rows were already copied to their new shards (a table move), to be lost.
//
// Fences are tokens, not flags: two DDL statements on one table from two nodes each hold their
// own, and the table opens again when the last is released. The engine keeps each one durably
// (key s/f/, storage/keys.ts) from before its probe answers until its release, so a replica
// restarted in the middle of a DDL still refuses the table's writes; the node reloads them into
// its registry at start (src/node/table-fences.ts), which lifts them by its rules.

/** Distinct fence tokens one shard holds at most (a bound on what a peer can make us keep). */
export const MAX_FENCES = 1024

export class TableFences {
  private readonly byTable = new Map<number, Set<string>>()
  /** Per table, how many fences were ever set on it here (since this replica opened); absent: none. */
  private readonly generations = new Map<number, number>()
  private count = 0

  /** Adds `token`'s fence on `tableId` (idempotent). */
  fence (tableId: number, token: string): void {
    let set = this.byTable.get(tableId)
    if (set?.has(token) === true) return
    if (this.count >= MAX_FENCES) throw new ScratchBirdError('SB_TABLE_ALTERING', `shard holds ${MAX_FENCES} table fences already; retry the DDL later`, { table_id: tableId })
    if (set === undefined) this.byTable.set(tableId, set = new Set())
    set.add(token)
    this.count++
    this.generations.set(tableId, this.generation(tableId) + 1)
  }

  /** The table's fence generation: a transaction writing it notes this at its first write. */
  generation (tableId: number): number {
    return this.generations.get(tableId) ?? 0
  }

  /** Throws SB_TABLE_ALTERING when a table was fenced after a transaction noted its generation (`seen`). */
  checkSince (seen: ReadonlyMap<number, number>, what: string): void {
    for (const [tableId, g] of seen) {
      if (this.generation(tableId) !== g) {
        throw new ScratchBirdError('SB_TABLE_ALTERING',
          `table ${tableId} was altered (its layout or its columns changed) after this transaction wrote it; ${what} was refused and the transaction changed nothing — roll back and retry`,
          { table_id: tableId })
      }
    }
  }

  /** Removes `token`'s fence on `tableId`; false when it was not held. */
  release (tableId: number, token: string): boolean {
    const set = this.byTable.get(tableId)
    if (set?.delete(token) !== true) return false
    this.count--
    if (set.size === 0) this.byTable.delete(tableId)
    return true
  }

  isFenced (tableId: number): boolean {
    return this.byTable.has(tableId)
  }

  get size (): number { return this.count }

  list (): Array<{ tableId: number, token: string }> {
    const out: Array<{ tableId: number, token: string }> = []
    for (const [tableId, tokens] of this.byTable) for (const token of tokens) out.push({ tableId, token })
    return out
  }

  /** Throws SB_TABLE_ALTERING when any of `tableIds` is fenced; `what` says what was refused. */
  check (tableIds: Iterable<{ readonly tableId: number }>, what: string): void {
    if (this.byTable.size === 0) return
    for (const { tableId } of tableIds) {
      if (this.byTable.has(tableId)) throw altering(tableId, what)
    }
  }
}

function altering (tableId: number, what: string): ScratchBirdError {
  return new ScratchBirdError('SB_TABLE_ALTERING',
    `table ${tableId} is being altered (a change of its layout waits for this shard to hold no row of it); ${what} was refused and changed nothing — retry when the ALTER TABLE has ended`,
    { table_id: tableId })
}
