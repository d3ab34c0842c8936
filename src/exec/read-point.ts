// The read point of a read committed UPDATE / DELETE that runs in two steps (exec/modify.ts: its
// rows are read into the coordinator, their new versions written back). Between the two, another
// transaction may commit a row the statement read; writing over it would lose that commit (issue
// 16). So the statement takes one HLC reading, readHlc, and
//  - reads its rows at readHlc (QUERY readHlc: the shard notes it, so every commit it makes from
//    then on lands above it, and lets the pass in flight land first — storage/engine.ts scan);
//  - writes them with WRITE_READ naming readHlc: an update or delete of a row whose live version
//    committed at or after readHlc is SB_UPDATE_CONFLICT (storage/row-write.ts, where the choice
//    of refusing over re-evaluating is explained).
// readHlc is registered as an open snapshot while the statement runs, so the sweep keeps the
// versions it reads. A node of the previous release refuses WRITE_READ (SB_CODEC_VERSION, nothing
// applied): the statement then writes with a plain WRITE, as that release did.
import { isScratchBirdError } from '../core/errors'
import { nextHlcTs } from '../storage/hlc-ts'
import type { HlcTs } from '../storage/types'
import type { Generators, ShardPort, SnapshotPort } from './env'
import type { ShardReplies, ShardRequests } from '../shard/protocol/ops'
import type { TableAccess } from './access/table-access'
import type { SqlTxn } from './txn'

/** `env` whose QUERY requests read at `readHlc` and whose WRITE requests are WRITE_READ naming it. */
export function readPointEnv<E extends ShardPort> (env: E, readHlc: HlcTs): E {
  const request: ShardPort['request'] = async (op, req) => {
    if (op === 'QUERY') return await env.request(op, { ...req, readHlc })
    if (op !== 'WRITE') return await env.request(op, req)
    try {
      // WRITE_READ's reply is WRITE's (messages.ts).
      return await env.request('WRITE_READ', { ...(req as ShardRequests['WRITE']), readHlc }) as ShardReplies[typeof op]
    } catch (e) {
      if (!isScratchBirdError(e, 'SB_CODEC_VERSION')) throw e
      return await env.request(op, req)
    }
  }
  // A child of env, not a copy: a session's env keeps the node's ports on its prototype.
  return Object.assign(Object.create(env) as E, { request })
}

/**
 * A statement that reads rows and then writes what it computed from them (a two-step UPDATE or
 * DELETE, a foreign key's lock write, INSERT … ON CONFLICT DO UPDATE): in a read committed
 * transaction `run` gets the env and access of one fresh read point; otherwise (a snapshot
 * transaction refuses what it did not see already; an access without read points) as they are.
 */
export async function atStatementReadPoint<E extends ShardPort & Generators & SnapshotPort, T> (env: E, access: TableAccess, txn: SqlTxn | null, run: (env: E, access: TableAccess) => Promise<T>): Promise<T> {
  const atReadPoint = access.atReadPoint
  if (txn === null || txn.isolation !== 'read_committed' || atReadPoint === undefined) return await run(env, access)
  return await withReadPoint(env, readHlc => run(readPointEnv(env, readHlc), atReadPoint.call(access, readHlc)))
}

/** Runs `run` with a fresh read point, registered as an open snapshot until it ends. */
export async function withReadPoint<T> (env: Generators & SnapshotPort, run: (readHlc: HlcTs) => Promise<T>): Promise<T> {
  const readHlc = nextHlcTs(env.hlc)
  const token = env.snapshots.register(readHlc)
  try {
    return await run(readHlc)
  } finally { env.snapshots.release(token) }
}
