import type { HlcTs, Xid } from '../../storage/types'
import { TwoPhaseCoordinator, type CoordinatorEffect, type CoordinatorEvent, type TwoPhaseOutcome } from './coordinator'
import type { Decision } from './decision'
import { LimboRecovery, type CoordinatorStatus, type RecoveryEffect, type RecoveryEvent, type RecoveryReport } from './recovery'
import type { ShardId } from '../../core/ids'

// Two-phase commit across shards (DESIGN §6 "Transactions across shards"): the thin drivers that
// run the machines (coordinator.ts, recovery.ts) over a TwoPhaseIo — shard workers on one node,
// the shard router in a cluster (node/twopc-io.ts). The drivers only carry effects out, all of a
// step's effects concurrently, and feed each answer back; every decision is the machines'.

export { DECISION_TABLE_ID, decisionShard, decodeDecision, encodeDecision, type Decision } from './decision'
export type { TwoPhaseOutcome } from './coordinator'
export type { CoordinatorStatus, RecoveryReport } from './recovery'

export interface TwoPhaseIo {
  /** Resolves the participant's commit floor: the commit HLC must exceed it (engine commitFloor). */
  prepare (shard: ShardId, xid: Xid): Promise<HlcTs>
  commitPrepared (shard: ShardId, xid: Xid, commitHlc: HlcTs): Promise<void>
  abortPrepared (shard: ShardId, xid: Xid): Promise<void>
  /** Roll back a participant that was never prepared. */
  rollback (shard: ShardId, xid: Xid): Promise<void>
  /** Durably inserts xid's decision record; rejects with SB_UNIQUE_VIOLATION when there is one already. */
  writeDecision (xid: Xid, decision: Decision): Promise<void>
  readDecision (xid: Xid): Promise<Decision | null>
  dropDecision (xid: Xid): Promise<void>
  listLimbo (shard: ShardId): Promise<Xid[]>
}

/**
 * The xids this process is coordinating right now. Limbo recovery leaves them to their coordinator
 * (see recovery.ts). Process-wide on purpose: what matters is whether this process may still write
 * their records, and xids are unique across nodes.
 */
const coordinating = new Set<Xid>()

/**
 * Commits `xid` on `shards` atomically. Resolves `committed: false` (everything rolled back, or with
 * `unknown` left to recovery) when a participant cannot prepare or the decision cannot be written;
 * after the decision, a failing COMMIT PREPARED is finished by recovery, so the outcome is still
 * `committed: true`.
 */
export async function commitTwoPhase (io: TwoPhaseIo, xid: Xid, shards: readonly ShardId[], commitHlc: (above: HlcTs) => HlcTs): Promise<TwoPhaseOutcome> {
  const m = new TwoPhaseCoordinator(xid, shards, commitHlc)
  coordinating.add(xid)
  try {
    await drive(m.start(), effect => answerCoordinatorEffect(io, xid, effect), ev => m.step(ev))
  } finally {
    coordinating.delete(xid)
  }
  return m.outcome!
}

/** Carries out one coordinator effect over `io`; its answer as the event to step (null: nothing to carry out). */
export async function answerCoordinatorEffect (io: TwoPhaseIo, xid: Xid, e: CoordinatorEffect): Promise<CoordinatorEvent | null> {
  switch (e.type) {
    case 'prepare':
      return io.prepare(e.shard, xid).then(floor => ({ type: 'prepared', shard: e.shard, floor }), (error: unknown) => ({ type: 'prepare-failed', shard: e.shard, error }))
    case 'abort-prepared':
      return io.abortPrepared(e.shard, xid).then(() => ({ type: 'aborted', shard: e.shard, ok: true }), () => ({ type: 'aborted', shard: e.shard, ok: false }))
    case 'rollback':
      return io.rollback(e.shard, xid).then(() => ({ type: 'aborted', shard: e.shard, ok: true }), () => ({ type: 'aborted', shard: e.shard, ok: false }))
    case 'commit-prepared':
      return io.commitPrepared(e.shard, xid, e.commitHlc).then(() => ({ type: 'committed', shard: e.shard }), (error: unknown) => ({ type: 'commit-failed', shard: e.shard, error }))
    case 'write-decision':
      return io.writeDecision(xid, e.decision).then(() => ({ type: 'decision-written' }), (error: unknown) => ({ type: 'decision-failed', error }))
    case 'read-decision':
      return io.readDecision(xid).then(decision => ({ type: 'decision-read', decision }), (error: unknown) => ({ type: 'decision-read-failed', error }))
    case 'drop-decision':
      return io.dropDecision(xid).then(() => ({ type: 'dropped', ok: true }), () => ({ type: 'dropped', ok: false }))
    case 'outcome':
      return null
  }
}

export interface RecoverLimboOptions {
  /**
   * This node is the whole cluster: every coordinator runs in this process and `shards` holds every
   * participant. In a cluster the coordinator of a limbo xid may be any node (the xid's node bits
   * name the node of the first shard it began on, not its coordinator), so one not running here
   * may be running elsewhere.
   */
  alone: boolean
}

/** The coordinator status of xids as a process coordinating `running` sees them (see recovery.ts). */
export function coordinatorStatus (alone: boolean, running: ReadonlySet<Xid> = coordinating): (xid: Xid) => CoordinatorStatus {
  return xid => running.has(xid) ? 'running' : alone ? 'gone' : 'maybe-running'
}

/** Resolves every limbo transaction on `shards` by its decision record (see recovery.ts). */
export async function recoverLimbo (io: TwoPhaseIo, shards: readonly ShardId[], opts: RecoverLimboOptions): Promise<RecoveryReport> {
  const m = new LimboRecovery({ shards, coordinator: coordinatorStatus(opts.alone), dropDecisions: opts.alone })
  await drive(m.start(), effect => answerRecoveryEffect(io, effect), ev => m.step(ev))
  return m.result
}

/** Carries out one recovery effect over `io`; its answer as the event to step. */
export async function answerRecoveryEffect (io: TwoPhaseIo, e: RecoveryEffect): Promise<RecoveryEvent> {
  switch (e.type) {
    case 'list-limbo':
      return io.listLimbo(e.shard).then(xids => ({ type: 'limbo-listed', shard: e.shard, xids }), (error: unknown) => ({ type: 'list-failed', shard: e.shard, error }))
    case 'read-decision':
      return io.readDecision(e.xid).then(decision => ({ type: 'decision-read', xid: e.xid, decision }), (error: unknown) => ({ type: 'decision-read-failed', xid: e.xid, error }))
    case 'write-decision':
      return io.writeDecision(e.xid, e.decision).then(() => ({ type: 'fenced', xid: e.xid }), (error: unknown) => ({ type: 'fence-failed', xid: e.xid, error }))
    case 'commit-prepared':
      return io.commitPrepared(e.shard, e.xid, e.commitHlc).then(() => ({ type: 'resolved', shard: e.shard, xid: e.xid }), (error: unknown) => ({ type: 'resolve-failed', shard: e.shard, xid: e.xid, error }))
    case 'abort-prepared':
      return io.abortPrepared(e.shard, e.xid).then(() => ({ type: 'resolved', shard: e.shard, xid: e.xid }), (error: unknown) => ({ type: 'resolve-failed', shard: e.shard, xid: e.xid, error }))
    case 'drop-decision':
      return io.dropDecision(e.xid).then(() => ({ type: 'dropped', xid: e.xid }), () => ({ type: 'dropped', xid: e.xid }))
  }
}

/** Carries out effects concurrently, feeding each answer back as it comes, until none is left. */
async function drive<E, V> (first: E[], run: (e: E) => Promise<V | null>, step: (v: V) => E[]): Promise<void> {
  const inFlight = new Set<Promise<void>>()
  const launch = (effects: E[]): void => {
    for (const e of effects) {
      const p: Promise<void> = run(e).then(v => {
        inFlight.delete(p)
        if (v !== null) launch(step(v))
      })
      inFlight.add(p)
    }
  }
  launch(first)
  while (inFlight.size > 0) await Promise.race(inFlight)
}
