import { isScratchBirdError } from '../core/errors'
import { isNodeId, type NodeId } from '../core/ids'
import type { ExecEnv } from './env'
import { pause } from './statement-snapshot'

// A statement's shard count (issue 20 item 5, shard split; cluster/shard-count-guard.ts). Each
// statement reads the live shard count ONCE and routes every key and every "all shards" scan by
// it; every request it sends carries that count, so a node running another count (a split adopted
// on one node and not yet on the other, or adopted here while the statement ran) refuses it with
// SB_SHARD_COUNT_STALE before applying anything. The statement's env pins the count: `shards` is
// a plain value and `request` stamps it (node/shard-router.ts compares it on this node, a peer on
// its own). The pinned env is kept per count, so a statement allocates nothing for it once the
// count is known. A transaction's requests go through the env it began with (exec/txn.ts), so
// they carry the count of its BEGIN: a transaction across a split is refused, never half-routed.
//
// The retry: an autocommit SELECT / INSERT / UPDATE / DELETE refused this way changed nothing
// anywhere (one shard: its AUTOCOMMIT was refused whole; several: its implicit transaction is
// rolled back; DDL is not retried: exec/executor.ts ROW_STATEMENTS), so it is run
// again, routed by the count in force then — at once when this node's count changed (it was
// behind, or adopted the split while the statement ran). A refusal by a PEER names it (details
// node) and its count: before waiting, the coordinator exchanges layouts with that peer at once
// (a gossip ping outside the rounds, node/cluster.ts syncLayoutWith): when the peer is ahead this
// node learns the newer layout from its ack and routes by it at the next attempt; when it is
// behind the ping hands it ours. Gossip would carry the same layout, but only once a round picks
// that peer. Otherwise (the layout's new shards still opening here, or the other node not caught
// up yet) a short wait; bounded, then the error goes to the client.
// Inside a transaction the statement fails with the error (the client rolls back and retries).

/** Attempts of an autocommit statement refused for its shard count: about 5 s of waits in all. */
export const SHARD_COUNT_ATTEMPTS = 60
const SHARD_COUNT_WAIT_MAX_MS = 100

const pinned = new WeakMap<ExecEnv, ExecEnv>()

/** `env` with its shard count read now and fixed, every request stamped with it. */
export function pinShardCount (env: ExecEnv): ExecEnv {
  const shards = env.shards
  const kept = pinned.get(env)
  if (kept !== undefined && kept.shards === shards) return kept
  // A spread reads the live getter once; `request` passes the same count along.
  const pin: ExecEnv = { ...env, shards, request: (op, req) => env.request(op, req, shards) }
  pinned.set(env, pin)
  return pin
}

/**
 * Runs `run` with the statement's pinned env; while it fails with SB_SHARD_COUNT_STALE and
 * `retryable()` (an autocommit statement: no transaction open before or after it), again with
 * the count in force then, SHARD_COUNT_ATTEMPTS times at most.
 */
export async function withShardCount<T> (env: ExecEnv, retryable: () => boolean, run: (env: ExecEnv) => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    const pin = pinShardCount(env)
    try {
      return await run(pin)
    } catch (e) {
      if (i >= SHARD_COUNT_ATTEMPTS || !isScratchBirdError(e, 'SB_SHARD_COUNT_STALE') || !retryable()) throw e
      // This node's count changed since the statement routed: route again now.
      if (env.shards !== pin.shards) continue
      const peer = refusingPeer(e.details)
      if (peer !== null && env.syncLayoutWith !== undefined) {
        await env.syncLayoutWith(peer)
        if (env.shards !== pin.shards) continue
      }
    }
    await pause(env, Math.min(SHARD_COUNT_WAIT_MAX_MS, 2 ** i))
  }
}

/** The node that refused a request for its shard count (checkShardCount's details), when it named one. */
function refusingPeer (details: Record<string, unknown> | undefined): NodeId | null {
  const node = details?.node
  return typeof node === 'number' && isNodeId(node) ? node : null
}
