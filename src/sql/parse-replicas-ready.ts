// ALTER TABLE t SET REPLICAS READY [ON SHARD n] (catalog/replica-bootstrap.ts): the end of a
// leaderless replica bootstrap, as the statement that travels to the catalog coordinator.
import type { Pos, ReplicasReadyAction } from './ast'
import type { Cursor } from './cursor'

/** After ALTER TABLE t SET: the action when REPLICAS READY follows, else null (nothing consumed). */
export function parseReplicasReady (c: Cursor, pos: Pos): ReplicasReadyAction | null {
  if (!c.isWord('replicas') || !c.isWord('ready', 1)) return null
  c.next()
  c.next()
  if (!c.acceptWord('on')) return { kind: 'replicas_ready', pos, shard: null }
  c.wantWord('shard')
  const t = c.peek()
  if (t.kind !== 'integer' || t.value.length > 9) throw c.error('a shard id (integer)')
  c.next()
  return { kind: 'replicas_ready', pos, shard: Number(t.value) }
}
