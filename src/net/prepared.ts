// Prepared statements of the HTTP API: {"sql": …, "prepare": true} answers a statement id, and
// {"statement": id, "params": […]} runs that text again without sending it. The id names the
// text node-wide (not per session: HTTP requests mostly run without one); the plan cache holds
// its parse and plan, so running by id neither parses nor plans again. Bounded: the least
// recently used statements are forgotten, and running a forgotten id is
// SB_UNDEFINED_PREPARED_STATEMENT — the client prepares again (the same text gets its id back
// while it is kept). Ids are `p` + a counter: unique for the node process's life.
import { ScratchBirdError } from '../core/errors'

export const HTTP_PREPARED_STATEMENTS = 1024

export class PreparedStatements {
  private readonly byId = new Map<string, string>()
  private readonly byText = new Map<string, string>()
  private next = 1

  constructor (readonly capacity = HTTP_PREPARED_STATEMENTS) {}

  get size (): number { return this.byId.size }

  /** The id of `sql` (the same id while it is kept). */
  prepare (sql: string): string {
    const known = this.byText.get(sql)
    if (known !== undefined) { this.touch(known, sql); return known }
    const id = `p${this.next++}`
    this.byId.set(id, sql)
    this.byText.set(sql, id)
    if (this.byId.size > this.capacity) {
      const [oldId, oldText] = this.byId.entries().next().value!
      this.byId.delete(oldId)
      this.byText.delete(oldText)
    }
    return id
  }

  /** The text of a statement id; SB_UNDEFINED_PREPARED_STATEMENT when unknown or forgotten. */
  text (id: string): string {
    const sql = this.byId.get(id)
    if (sql === undefined) {
      throw new ScratchBirdError('SB_UNDEFINED_PREPARED_STATEMENT', `prepared statement "${id.slice(0, 64)}" does not exist (never prepared, or forgotten after ${this.capacity} others): send it again with "prepare": true`, { statement: id.slice(0, 64) })
    }
    this.touch(id, sql)
    return sql
  }

  private touch (id: string, sql: string): void {
    this.byId.delete(id)
    this.byId.set(id, sql)
  }
}
