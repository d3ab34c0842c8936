import type { TableInfo } from '../../catalog/catalog'
import { ScratchBirdError } from '../../core/errors'
import { REPLICATION_MODE_RULES } from '../../core/replication-modes'

// What a cluster can provide for a table (issue 5: a replication setting the cluster cannot honour
// is refused, never silently weakened). A check of a new catalog version against the cluster's
// configured membership, so it lives with the cluster, not with the catalog: the catalog bounds N
// by live nodes (replication-options.ts); this bounds it by what placement can do at all.

/**
 * Throws for the first table changed in `catalog`'s latest version that the cluster of `members`
 * configured nodes cannot provide: a factor the mode does not keep (REPLICATION_MODE_RULES
 * maxReplicas; none today), a replication_factor above the configured members (replicas are the first N of a shard's preference list over cluster.nodes).
 */
export function checkProvidable (catalog: { readonly version: number, readonly tables: readonly TableInfo[] }, members: number): void {
  for (const t of catalog.tables) {
    if (t.version !== catalog.version) continue
    const n = t.replication.replication_factor
    const mode = t.replication.replication_mode
    const rules = REPLICATION_MODE_RULES[mode]
    if (rules.maxReplicas !== null && n > rules.maxReplicas) {
      throw new ScratchBirdError('SB_REPLICATION_UNAVAILABLE', `replication_factor=${n} is not available yet for replication_mode '${mode}': ${rules.replicasUnavailable}`,
        { table: t.name, option: 'replication_factor', value: n })
    }
    if (n > members) {
      throw new ScratchBirdError('SB_INVALID_TABLE_OPTION', `replication_factor=${n} exceeds the ${members} configured members of the cluster`,
        { table: t.name, option: 'replication_factor', value: n, members })
    }
  }
}
