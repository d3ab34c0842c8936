// SHOW TRANSACTIONS HORIZON (issue 14 item 6, the seeds' computeGlobalOIT): the garbage-collection
// horizon this node's sweep would use now, and each member's part in it — so an operator can see
// which node (an open snapshot, or a down node that has not been removed) holds garbage
// collection back. One row per member, then one row (node_id NULL, state 'cluster') with the
// horizon itself.
import type { HorizonContribution } from '../cluster/snapshot-horizon'
import type { HlcTs } from '../core/ids'
import { hlcMs } from '../storage/types'
import { T } from '../types/sql-types'
import type { SqlValue } from '../types/values'
import type { ClusterView } from './env'
import { rowsResult, type StatementResult } from './result'

export function showTransactionsHorizon (env: ClusterView): StatementResult {
  const view = env.transactionsHorizon()
  const at = (v: HlcTs): string => new Date(hlcMs(v)).toISOString()
  const member = (m: HorizonContribution): SqlValue[] => [
    BigInt(m.nodeId),
    m.isSelf ? `${m.state} (this node)` : m.state,
    m.oldestSnapshot == null ? null : m.oldestSnapshot.toString(),
    m.oldestSnapshot == null ? null : at(m.oldestSnapshot),
    m.oldestSnapshot === null ? 'malformed announcement (ignored)' : m.oldestSnapshot === undefined ? 'no open snapshot' : m.holds ? 'holds the horizon' : 'left the cluster (ignored)'
  ]
  return rowsResult('SHOW', [
    { name: 'node_id', type: T.integer }, { name: 'state', type: T.text }, { name: 'oldest_snapshot_hlc', type: T.text },
    { name: 'oldest_snapshot_at', type: T.text }, { name: 'contribution', type: T.text }
  ], [...view.members.map(member), [null, 'cluster', view.horizon.toString(), at(view.horizon), 'sweep horizon now']])
}
