import { splitBlockers, splitRefused, splitTarget, type SplitContext } from '../cluster/shard-split'
import type { SplitCatalogFacts } from '../cluster/split-ddl-guard'
import { primaryReplicaCount } from '../cluster/routing'
import type { Catalog } from '../catalog/catalog'
import type { AlterClusterStatement } from '../sql/ast'
import type { ExecEnv } from './env'
import { commandResult, type StatementResult } from './result'

// ALTER CLUSTER SET shards = n (cluster/shard-split.ts holds the rules and the design). Checked
// here on the node the client talks to, against its catalog and its view of the membership:
// admin rights (security/privileges.ts), then the target (only 2 × the current count; the current
// count itself changes nothing), then everything in the way. A node running alone (no cluster:
// the run needs the membership decider and gossip) refuses a valid split naming 'standalone'.
// In a cluster, a split with no blockers, and anything asked while one runs (the same target:
// nothing; the current count: a cancel), is decided by the cluster's decider as a layout
// (node/cluster.ts splitOp, cluster/split-run.ts splitStatement); the statement returns once the
// intent is decided, and SHOW SHARD MAP shows the progress.

/**
 * Whether the whole split runs in this build: the run (intent, derives, reports, final layout:
 * cluster/split-run.ts) AND the switch (node/split-switch.ts, another branch). The one place that
 * lifts the row_copy blocker.
 */
export const SPLIT_RUN_READY = true

/** The relations of `catalog` with the facts a split depends on (splitBlockers; cluster/split-ddl-guard.ts). */
export function splitTables (catalog: Catalog): SplitContext['tables'] {
  return catalog.userTables.filter(t => t.temporary === undefined).map(t => ({
    name: t.name,
    leaderless: t.replication.replication_mode === 'leaderless_quorum',
    globalIndexes: catalog.indexesOf(t.id).filter(i => i.index?.global === true).map(i => i.name),
    moving: t.move !== undefined
  }))
}

/** What of `catalog` a split under way depends on, with `members` placed members (cluster/split-ddl-guard.ts). */
export function splitCatalogFacts (catalog: Catalog, members: number): SplitCatalogFacts {
  return { tables: splitTables(catalog), mode1Copies: primaryReplicaCount(catalog.tables, members) }
}

/** The facts of `catalog` and the membership the split depends on (`ready`: SPLIT_RUN_READY; tests pass false). */
export function splitContext (catalog: Catalog, env: Pick<ExecEnv, 'members' | 'shardMap' | 'splitOp'>, ready = SPLIT_RUN_READY): SplitContext {
  const tables = splitTables(catalog)
  const membershipChanging = env.members().some(m => m.state === 'leaving' || m.state === 'joining') ||
    env.shardMap().some(r => r.moving !== undefined)
  return { tables, membershipChanging, rowCopyBuilt: ready, standalone: env.splitOp === undefined }
}

export async function alterClusterShards (env: ExecEnv, s: AlterClusterStatement, ready = SPLIT_RUN_READY): Promise<StatementResult> {
  if (ready && env.splitOp !== undefined) {
    // A start is checked here (the catalog and the membership this node sees); the rest — nothing
    // to do, a cancel, a count that is no split — is the decider's, against its layout.
    if (s.shards === env.shards * 2) {
      const blockers = splitBlockers(splitContext(env.catalog(), env, true))
      if (blockers.length > 0) throw splitRefused(env.shards, s.shards, blockers)
    }
    return await env.splitOp(s)
  }
  const target = splitTarget(env.shards, s.shards)
  if (target === null) return commandResult('ALTER CLUSTER', 0, [`the cluster already has ${s.shards} shards; nothing was changed`])
  throw splitRefused(env.shards, target, splitBlockers(splitContext(env.catalog(), env, ready)))
}
