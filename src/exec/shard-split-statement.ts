import { splitBlockers, splitRefused, splitTarget, type SplitContext } from '../cluster/shard-split'
import type { Catalog } from '../catalog/catalog'
import type { AlterClusterStatement } from '../sql/ast'
import type { ExecEnv } from './env'
import { commandResult, type StatementResult } from './result'

// ALTER CLUSTER SET shards = n (cluster/shard-split.ts holds the rules and the design). Checked
// here on the node the client talks to, against its catalog and its view of the membership:
// admin rights (security/privileges.ts), then the target (only 2 × the current count; the current
// count itself changes nothing), then everything in the way. This release has no run-time row
// copy into child shards, so a valid split is always refused with the list of blockers — never
// started half-way.

/** The facts of `catalog` and the membership the split depends on. */
export function splitContext (catalog: Catalog, env: Pick<ExecEnv, 'members' | 'shardMap'>): SplitContext {
  const tables = catalog.userTables.filter(t => t.temporary === undefined).map(t => ({
    name: t.name,
    leaderless: t.replication.replication_mode === 'leaderless_quorum',
    globalIndexes: catalog.indexesOf(t.id).filter(i => i.index?.global === true).map(i => i.name),
    moving: t.move !== undefined
  }))
  const membershipChanging = env.members().some(m => m.state === 'leaving' || m.state === 'joining') ||
    env.shardMap().some(r => r.moving !== undefined)
  return { tables, membershipChanging, rowCopyBuilt: false }
}

export function alterClusterShards (env: ExecEnv, s: AlterClusterStatement): StatementResult {
  const target = splitTarget(env.shards, s.shards)
  if (target === null) return commandResult('ALTER CLUSTER', 0, [`the cluster already has ${s.shards} shards; nothing was changed`])
  throw splitRefused(env.shards, target, splitBlockers(splitContext(env.catalog(), env)))
}
