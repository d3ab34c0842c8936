import type { Logger } from 'pino'
import type { Catalog } from '../catalog/catalog'
import { moveRunner } from '../catalog/table-move'
import { describe, messageOf } from '../core/errors'
import type { NodeId } from '../core/ids'

// Resumes moves of populated tables (catalog/table-move.ts) that no running statement carries: the
// coordinating node restarted after a crash, or it is gone and this node is the one the rule picks
// (moveRunner: the coordinator while alive, else the lowest live node, which records itself as the
// coordinator first). Checked every MOVE_TICK_MS and at start, so a table never stays refusing
// writes for good: a failed run (a peer down, a timeout) is tried again on the next tick.
// Only while this node's catalog is as new as any live member's: a node behind could copy rows of
// a move that ended elsewhere over the rows written since.

/** How often the catalog is checked for moves to resume. */
export const MOVE_TICK_MS = 5_000

export interface TableMoveDeps {
  selfId: NodeId
  catalog: () => Catalog
  /** Live member ids (this node included). */
  live: () => NodeId[]
  /** Is this node's catalog as new as the newest a live member announces? */
  catalogCurrent: () => boolean
  /** Runs the move of `table` to its end (exec/table-move.ts runMove; it joins a run already going here), telling each step it starts. */
  run: (table: string, progress: (step: string) => void) => Promise<void>
  /** Records `node` as the move's coordinator (ALTER TABLE t MOVE BY NODE n). */
  takeOver: (table: string, node: NodeId) => Promise<void>
  log: Logger
}

export class TableMoveShell {
  private timer: NodeJS.Timeout | undefined
  /** Tables whose move this shell is running now. */
  private readonly running = new Set<string>()

  constructor (private readonly d: TableMoveDeps) {}

  start (): void {
    this.timer = setInterval(() => this.check(), MOVE_TICK_MS)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
  }

  /** Starts a run for every moving table this node should run and does not run yet (tests call it). */
  check (): void {
    const moving = this.d.catalog().userTables.filter(t => t.move !== undefined && !this.running.has(t.name))
    if (moving.length === 0) return
    if (!this.d.catalogCurrent()) {
      this.d.log.info({ tables: moving.map(t => t.name) }, 'moves of tables wait for this node\'s catalog to catch up before they are resumed')
      return
    }
    const live = this.d.live()
    for (const t of moving) {
      if (t.move === undefined) continue
      if (moveRunner(t.move, live) !== this.d.selfId) {
        this.d.log.debug({ table: t.name, live }, `the move of table ${t.name} is run by node ${String(moveRunner(t.move, live))}`)
        continue
      }
      const coordinator = t.move.coordinator
      this.running.add(t.name)
      void (async () => {
        if (coordinator !== this.d.selfId) {
          this.d.log.warn({ table: t.name, coordinator }, `node ${coordinator}, running the move of table ${t.name}, is not alive: node ${this.d.selfId} takes it over`)
          await this.d.takeOver(t.name, this.d.selfId)
        }
        this.d.log.info({ table: t.name, phase: t.move!.phase }, `resuming the move of table ${t.name} (phase ${t.move!.phase})`)
        await this.d.run(t.name, step => this.d.log.info({ table: t.name, step }, `the move of table ${t.name}: ${step}`))
        this.d.log.info({ table: t.name }, `the move of table ${t.name} has ended`)
      })().catch((e: unknown) => {
        this.d.log.warn({ table: t.name, err: describe(e) }, `the move of table ${t.name} stopped (${messageOf(e)}); tried again in ${MOVE_TICK_MS} ms`)
      }).finally(() => this.running.delete(t.name))
    }
  }
}
