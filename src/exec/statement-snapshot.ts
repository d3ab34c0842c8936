// One consistent cut for a SELECT that reads several shards outside a transaction (issue 21: the
// bank total of the chaos runs). Read committed per shard is not enough there: a two-phase commit
// reaches its participants one after the other, so a statement reading shard A after its COMMIT
// PREPARED and shard B before it sees half of the transaction (a transfer's credit without its
// debit), with or without faults.
//
// The statement takes one HLC reading (readHlc) and every shard serves it its snapshot at that HLC
// (engine scan readHlc):
//  - a version committed below readHlc is visible, above it not — the same cut on every shard,
//    because a two-phase transaction commits at ONE HLC everywhere (writer.ts resolveJob);
//  - a shard notes readHlc before reading (engine noteRead), and every commit it makes afterwards
//    lands above it (local commits are pushed; a two-phase commit's HLC is chosen above every
//    participant's floor at PREPARE, cluster/twopc/coordinator.ts): a transaction this statement
//    did not see on one shard cannot show up below readHlc on another;
//  - a prepared version cannot be judged before its decision: the shard answers SB_TXN_IN_LIMBO
//    and the statement is run again here after a short wait (withLimboRetry), bounded.
// A statement that reads one shard keeps reading its latest commits (a one-shard read is already
// one cut, and it then sees every commit acknowledged before it, whatever clock stamped them).
// A read committed transaction's statements read several shards the same way (each statement one
// cut, plus the transaction's own writes — PostgreSQL's per-statement snapshot); a snapshot
// transaction already reads every shard at its start HLC (engine begin: addSnapshot).
// Known limit: a multi-shard statement does not see a commit acknowledged by another node less
// than the clocks' offset ago if that node's HLC ran ahead of this one's (no uncertainty restart).
import { isScratchBirdError } from '../core/errors'
import type { HlcTs } from '../storage/types'
import type { SelectPlan } from '../plan/select-plan'
import type { ShardPort, TimerPort } from './env'

/** The env of one statement whose table reads go at `readHlc` (ignored by a snapshot transaction's shards). */
export function statementSnapshotEnv<E extends ShardPort> (env: E, readHlc: HlcTs): E {
  const request: ShardPort['request'] = async (op, req) => {
    if (op === 'QUERY' || op === 'JOIN_QUERY') {
      return await env.request(op, { ...req, readHlc })
    }
    return await env.request(op, req)
  }
  // A child of env, not a copy: a session's env (temporary tables) keeps the node's ports on its prototype.
  return Object.assign(Object.create(env) as E, { request })
}

/** Does a SELECT in `txn` (null: none) need a statement snapshot: it reads several shards, outside a
 *  transaction or in a read committed one? */
export function needsStatementSnapshot (plan: SelectPlan, txn: { readonly isolation: string } | null): boolean {
  return (txn === null || txn.isolation === 'read_committed') && !readsOneShard(plan)
}

/** Does the statement read at most one shard (one table pinned to one shard, no subqueries)? */
export function readsOneShard (plan: SelectPlan): boolean {
  const src = plan.source
  if (plan.slots.length > 0) return false
  if (src.kind === 'none' || src.kind === 'system') return true
  return src.kind === 'table' && src.shards.length <= 1
}

/** Attempts of a statement that met prepared versions: about 2.5 s of waits in all. */
export const LIMBO_ATTEMPTS = 40
const LIMBO_WAIT_MAX_MS = 100

/**
 * Runs `attempt` again while it fails with SB_TXN_IN_LIMBO (a read met a prepared version whose
 * decision is on its way): 2, 4, … 100 ms apart, LIMBO_ATTEMPTS times at most, then that error
 * goes to the client (a transaction left in limbo by a crashed coordinator waits for recovery).
 */
export async function withLimboRetry<T> (timer: TimerPort, attempt: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt()
    } catch (e) {
      if (i >= LIMBO_ATTEMPTS || !isScratchBirdError(e, 'SB_TXN_IN_LIMBO')) throw e
    }
    await pause(timer, Math.min(LIMBO_WAIT_MAX_MS, 2 ** i))
  }
}

/** Waits `ms` on the statement timer (no timer: one turn of the event loop). */
export async function pause (timer: TimerPort, ms: number): Promise<void> {
  await new Promise<void>(resolve => {
    if (timer.statementTimer !== undefined) timer.statementTimer(ms, resolve)
    else setImmediate(resolve)
  })
}
