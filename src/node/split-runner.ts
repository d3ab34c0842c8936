import type { Logger } from 'pino'
import type { ClusterLayout } from '../cluster/layout'
import { caughtUpFloor, nextPhase, switchMayBegin, withCaughtUp, type SplitCaughtUpRecord, type SplitReports } from '../cluster/split-run'
import type { SplitParentPhase, SplitParentReport, SplitSwitchHooks } from '../cluster/split-progress'
import { describe, isScratchBirdError, messageOf } from '../core/errors'
import type { NodeId, ShardId } from '../core/ids'
import { childOf, deriveStep, endDerive, type DeriveDeps } from './split-derive'

// The thin I/O shell of a split's RUN on this node (cluster/split-run.ts holds the rules): while
// the layout it runs carries `split`, for every parent it holds a copy of, it keeps the derive of
// the child going (node/split-derive.ts: a bounded number of steps per parent per tick, the event
// loop yielded between steps, tailing on after it caught up), reports where each stands (its
// gossip record), and on a parent's primary asks the switch half (SplitSwitchHooks, implemented
// by node/split-switch.ts) to begin the switch once every holder reports caught up. Once
// switchedAt answers an LSN the parent is 'switched' and the child is started (once per process:
// startChild is idempotent, so a restart calls it again).
//
// What it keeps in memory is only what it reports (phase, rows written, lag); the derive itself
// resumes from the child's recorded progress, so a restart of the node picks up where the last
// applied batch ended. The one phase fact kept on disk is which parents it reported caught up
// (SplitCaughtUpRecord, written before the report goes out; cluster/split-run.ts): a restarted
// runner starts them at 'caught_up', so a cancel is not accepted on a restart's forgetting while a
// primary may have begun its switch. A primary begins a switch only while its group's voters are
// the holders (switchMayBegin). A child with NO recorded progress is emptied first (SPLIT_CHILD_CLEAR): a
// derive assumes an empty child, and a cancelled or stale derive may have left rows. A derive
// whose parent log was cut back under it (SB_SPLIT_COPY_STALE) is ended (pin released, progress
// cleared), its child emptied, and started again from a fresh pin. When the layout drops the
// split with the same shard count (a cancel), every derive here is ended, its child emptied and
// its parent's fence lifted if its switch had begun;
// when it drops it with the doubled count (the switch is done), the runner forgets its state —
// the switch half owns the pins from the switch on.
// LEFTOVERS: a node that was down (or whose runner had not seen the split yet) when the cancel was
// decided never sees the split go in this process, and its derives' pins, progress and any fence
// are on disk. So at each layout epoch without a split (once per epoch: at the first round of a
// process, after a cancel, after each later change) the runner releases the log pin of every
// parent of the current count it holds (SPLIT_PIN answers whether one was held: a read, nothing
// written, when none is), ends the derive of one it released (child progress cleared, child
// emptied), and lifts a fence of a split of the current count. A fence of that count with no
// split in the layout is a cancelled split's: a voter of a parent applies its switch entry only
// after every holder — each a voter — reported caught up, which it did only from a layout
// recording the intent, and cluster.json keeps it across restarts; a split that went through has
// a larger count (split-adopt.ts lifts those fences).

/** Derive steps per parent per tick: bounded work, so a tick of many parents stays short. */
export const SPLIT_STEPS_PER_TICK = 8

export interface SplitRunnerDeps {
  readonly selfId: NodeId
  readonly derive: DeriveDeps
  readonly hooks: SplitSwitchHooks
  /** The layout this node runs (recorded in cluster.json before it is returned here). */
  readonly layout: () => ClusterLayout
  /** The nodes holding a copy of `parent` (placement: the first N of its preference list). */
  readonly holdersOf: (parent: ShardId) => readonly NodeId[]
  /** Is this node `parent`'s primary (a single copy: its owner; Mode 1: its group's primary here)? */
  readonly isPrimary: (parent: ShardId) => boolean
  /** Every node's reports as gossip carries them (this node's own are overlaid by the runner). */
  readonly reports: () => SplitReports
  /** Puts this node's reports in its gossip record (empty: none). */
  readonly publish: (reports: SplitParentReport[]) => void
  /** Are this node's group of `parent`'s voters the holders (a single copy: yes)? A switch waits until they are. */
  readonly votersSettled?: (parent: ShardId) => boolean
  /** The parents reported caught up, kept across restarts (absent: in memory only, tests). */
  readonly caughtUp?: { read: () => SplitCaughtUpRecord | null, write: (rec: SplitCaughtUpRecord | null) => void }
  readonly log: Logger
  readonly stepsPerTick?: number
}

interface ParentRun {
  phase: SplitParentPhase
  rowsCopied: number
  lagEntries: number
  /** The child was checked (and emptied when it recorded no progress) in this process. */
  ready: boolean
  /** beginSwitch answered this LSN. */
  switchLsn: bigint | null
  childStarted: boolean
  /** The last error logged for this parent (the same one is not logged every tick). */
  lastError: string | null
}

export class SplitRunner {
  /** The split the state below belongs to (shards n → to), null: none seen. */
  private split: { shards: number, to: number } | null = null
  private readonly parents = new Map<ShardId, ParentRun>()
  private running = false
  private timer: NodeJS.Timeout | null = null
  /** The layout epoch whose leftovers were cleared (see LEFTOVERS); null: none yet in this process. */
  private sweptEpoch: number | null = null
  /** The parents recorded as reported caught up (this process's copy of the record). */
  private caughtUpRec: SplitCaughtUpRecord | null = null

  constructor (private readonly d: SplitRunnerDeps) {}

  start (intervalMs: number): void {
    this.timer = setInterval(() => { void this.tick() }, intervalMs)
    this.timer.unref()
  }

  stop (): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }

  /** This node's reports, ascending by parent (what publish last got). */
  reports (): SplitParentReport[] {
    return [...this.parents].sort(([a], [b]) => a - b).map(([parent, r]) => ({ parent, phase: r.phase, lagEntries: r.lagEntries, rowsCopied: r.rowsCopied }))
  }

  /** One round over the parents this node holds (never two at once). */
  async tick (): Promise<void> {
    if (this.running) return
    this.running = true
    try {
      await this.round()
    } finally {
      this.running = false
    }
  }

  private async round (): Promise<void> {
    const l = this.d.layout()
    const was = this.split
    if (l.split === undefined) {
      if (was !== null) {
        if (l.shards === was.shards) await this.cancel(was.shards)
        else this.d.log.info({ shards: l.shards }, `split of ${was.shards} shards into ${was.to} done here: routing with ${l.shards} shards`)
        this.parents.clear()
        this.split = null
        this.d.publish([])
      }
      if (this.sweptEpoch !== l.epoch) {
        try {
          this.recordCaughtUp(null)
        } catch (e) {
          this.d.log.warn({ err: describe(e) }, `split: the record of the parents reported caught up could not be removed (retried at the next layout change; a later split ignores it): ${messageOf(e)}`)
        }
        await this.clearLeftovers(l.shards, l.epoch)
      }
      return
    }
    if (was === null || was.shards !== l.shards || was.to !== l.split.to) {
      this.parents.clear()
      this.split = { shards: l.shards, to: l.split.to }
      // Parents this node reported caught up before a restart start there (see the top).
      this.caughtUpRec = this.d.caughtUp?.read() ?? null
      for (const parent of caughtUpFloor(this.caughtUpRec, l)) this.stateOf(parent).phase = 'caught_up'
      this.d.log.info({ shards: l.shards, to: l.split.to }, `split of ${l.shards} shards into ${l.split.to} (membership epoch ${l.epoch}): deriving the children of the parents held here`)
    }
    const n = l.shards
    for (let p = 0; p < n; p++) {
      const parent = p as ShardId
      if (!this.d.holdersOf(parent).includes(this.d.selfId)) continue
      const st = this.stateOf(parent)
      try {
        await this.stepParent(parent, n, st)
        st.lastError = null
      } catch (e) {
        const text = messageOf(e)
        if (st.lastError !== text) this.d.log.warn({ shard: parent, err: describe(e) }, `split: the derive of shard ${parent + n} from shard ${parent} did not advance (retried at the next round): ${text}`)
        st.lastError = text
      }
      this.d.publish(this.reports())
      await yieldLoop()
    }
  }

  private stateOf (parent: ShardId): ParentRun {
    let st = this.parents.get(parent)
    if (st === undefined) this.parents.set(parent, st = { phase: 'copying', rowsCopied: 0, lagEntries: 0, ready: false, switchLsn: null, childStarted: false, lastError: null })
    return st
  }

  private async stepParent (parent: ShardId, n: number, st: ParentRun): Promise<void> {
    if (st.phase !== 'switched' && await this.d.hooks.switchedAt(parent, n) !== null) {
      st.phase = 'switched'
      st.lagEntries = 0
      this.d.log.info({ shard: parent }, `split: shard ${parent + n} was derived from shard ${parent} exactly to its switch entry; starting it`)
    }
    if (st.phase === 'switched') {
      if (!st.childStarted) { await this.d.hooks.startChild(parent, n); st.childStarted = true }
      return
    }
    const w = this.d.derive.workers
    const child = childOf(parent, n)
    if (!st.ready) {
      // A derive from nothing assumes an empty child: a cancelled or stale one may have left rows.
      await w.openShard(child)
      const { progress } = await w.request('SPLIT_DERIVE_STATE', { shard: child, clear: false })
      if (progress === null) await w.request('SPLIT_CHILD_CLEAR', { shard: child })
      st.ready = true
    }
    for (let i = 0; i < (this.d.stepsPerTick ?? SPLIT_STEPS_PER_TICK); i++) {
      let r
      try {
        r = await deriveStep(this.d.derive, parent, n)
      } catch (e) {
        if (!isScratchBirdError(e, 'SB_SPLIT_COPY_STALE')) throw e
        await this.restartDerive(parent, n, st, messageOf(e))
        return
      }
      st.rowsCopied += r.written
      const phase = nextPhase(st.phase, r.caughtUp)
      // On disk before the report leaves (round → publish): a restart must not forget it. A failed
      // write throws here, so the phase stays 'copying' and the next round tries again.
      if (st.phase === 'copying' && phase === 'caught_up') this.recordCaughtUp(withCaughtUp(this.caughtUpRec, this.d.layout(), parent, true))
      st.phase = phase
      if (r.caughtUp) { st.lagEntries = 0; break }
      const { lastLsn } = await w.request('REPL_STATE_GET', { shard: parent })
      st.lagEntries = lastLsn > r.progress.through ? Number(lastLsn - r.progress.through) : 0
      await yieldLoop()
    }
    if (st.switchLsn === null && this.d.isPrimary(parent) && switchMayBegin(this.d.holdersOf(parent), this.withOwn(), parent, this.d.votersSettled?.(parent) ?? true)) {
      // Asked again at every round while it answers null (a prepared transaction holds it back).
      st.switchLsn = await this.d.hooks.beginSwitch(parent, n)
      if (st.switchLsn !== null) this.d.log.info({ shard: parent, lsn: String(st.switchLsn) }, `split: every holder of shard ${parent} caught up; its switch entry is at LSN ${st.switchLsn}`)
    }
  }

  /** Gossip's reports with this node's own current ones (gossip may carry an older record of ours). */
  private withOwn (): SplitReports {
    const all = new Map(this.d.reports())
    all.set(this.d.selfId, this.reports())
    return all
  }

  /** SB_SPLIT_COPY_STALE: end the derive (pin, progress), empty the child, start again from a fresh pin. */
  private async restartDerive (parent: ShardId, n: number, st: ParentRun, why: string): Promise<void> {
    this.d.log.warn({ shard: parent }, `split: the derive of shard ${parent + n} starts again from empty: ${why}`)
    await endDerive(this.d.derive, parent, n)
    await this.d.derive.workers.request('SPLIT_CHILD_CLEAR', { shard: childOf(parent, n) })
    // Its child is rebuilt from empty: no primary may begin a switch on it (cluster/split-run.ts).
    const l = this.d.layout()
    if (l.split !== undefined && caughtUpFloor(this.caughtUpRec, l).has(parent)) this.recordCaughtUp(withCaughtUp(this.caughtUpRec, l, parent, false))
    Object.assign(st, { phase: 'copying', rowsCopied: 0, lagEntries: 0, ready: true })
  }

  /** Writes the caught-up record (null: none; nothing written when there was none). */
  private recordCaughtUp (rec: SplitCaughtUpRecord | null): void {
    if (rec === null && this.caughtUpRec === null && this.d.caughtUp?.read() === null) return
    this.d.caughtUp?.write(rec)
    this.caughtUpRec = rec
  }

  /**
   * LEFTOVERS (see the top) of a split of `n` shards cancelled while this runner did not follow it:
   * for every parent held here, its log pin released and, when one was held, the derive ended and
   * the child emptied; a fence of a split of `n` lifted. Recorded as done for `epoch` only when
   * every parent was handled (a failure is retried at the next round).
   */
  private async clearLeftovers (n: number, epoch: number): Promise<void> {
    let failed = false
    for (let p = 0; p < n; p++) {
      const parent = p as ShardId
      if (!this.d.holdersOf(parent).includes(this.d.selfId)) continue
      try {
        const w = this.d.derive.workers
        const { pin } = await w.request('SPLIT_PIN', { shard: parent, pin: false })
        const { fence } = await w.request('SPLIT_FENCE', { shard: parent, lift: null })
        if (pin === null && fence?.shards !== n) continue
        if (pin !== null) {
          await endDerive(this.d.derive, parent, n)
          await w.request('SPLIT_CHILD_CLEAR', { shard: childOf(parent, n) })
        }
        if (fence?.shards === n) await w.request('SPLIT_FENCE', { shard: parent, lift: n })
        this.d.log.info({ shard: parent }, `split: shard ${parent} kept ${pin !== null ? `the log pin of a derive of shard ${parent + n}` : ''}${pin !== null && fence?.shards === n ? ' and ' : ''}${fence?.shards === n ? `the fence of a switch into ${2 * n} shards` : ''} from a split cancelled while this node did not follow it; released (the layout of epoch ${epoch} splits nothing)`)
      } catch (e) {
        failed = true
        // A replica being bootstrapped (a node joining, a move) answers nothing until installed:
        // expected, so not a warning — the round after the install looks again.
        const level = isScratchBirdError(e, 'SB_REPL_BOOTSTRAPPING') ? 'debug' : 'warn'
        this.d.log[level]({ shard: parent, err: describe(e) }, `split: what a cancelled split left on shard ${parent} could not be cleared yet (retried at the next round): ${messageOf(e)}`)
      }
      await yieldLoop()
    }
    if (!failed) this.sweptEpoch = epoch
  }

  /** A cancel: every derive of this node ended (pin released) and its child emptied. */
  private async cancel (n: number): Promise<void> {
    for (const parent of this.parents.keys()) {
      try {
        await endDerive(this.d.derive, parent, n)
        await this.d.derive.workers.request('SPLIT_CHILD_CLEAR', { shard: childOf(parent, n) })
        // A parent whose switch had begun (a cancel decided on a stale reading of the phases: a
        // holder restarted after reporting caught_up) would otherwise refuse writes for good.
        await this.d.derive.workers.request('SPLIT_FENCE', { shard: parent, lift: n })
      } catch (e) {
        this.d.log.error({ shard: parent, err: describe(e) }, `split cancelled: the derive of shard ${parent + n} could not be ended here (its parent's log pin may stay until the next split): ${messageOf(e)}`)
      }
    }
    this.d.log.info({ shards: n }, `split cancelled: the derives held here ended and their children were emptied; routing stays with ${n} shards`)
  }
}

function yieldLoop (): Promise<void> {
  return new Promise(resolve => setImmediate(resolve))
}
