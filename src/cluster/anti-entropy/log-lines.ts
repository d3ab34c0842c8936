import type { NodeId, ShardId } from '../../core/ids'
import type { AeEvent } from './types'

// The anti-entropy log lines (anti_entropy.log), worded as the seeds print them:
//   [INFO] 2026-01-09 15:45:00 Anti-entropy: Window 150 diverged (Shard 001), repair initiated
//   [INFO] 2026-01-09 15:45:10 Anti-entropy: Repaired 3 rows (Shard 001, Window 150)
// The level and timestamp are the logger's (ops/log.ts); the window is the forest's window number
// (floor(version timestamp / window length)). "rows" stays plural for any count so one pattern
// greps every line. Structured fields go beside the message for JSON consumers.

export interface AeLogLine {
  readonly level: 'INFO' | 'WARNING'
  readonly msg: string
  readonly fields: Readonly<Record<string, unknown>>
}

function shardName (shard: number): string {
  return `Shard ${String(shard).padStart(3, '0')}`
}

export function antiEntropyLogLine (e: AeEvent): AeLogLine {
  switch (e.type) {
    case 'window-diverged':
      return { level: 'INFO', msg: `Anti-entropy: Window ${e.window} diverged (${shardName(e.shard)}), repair initiated`, fields: { shard: e.shard, peer: e.peer, window: e.window } }
    case 'window-repaired': {
      const r = e.report
      const unresolved = r.conflicts + r.unrepairable
      return {
        level: unresolved > 0 ? 'WARNING' : 'INFO',
        msg: `Anti-entropy: Repaired ${r.rowsRepaired} rows (${shardName(e.shard)}, Window ${r.window})` +
          (unresolved > 0 ? `; ${r.conflicts} conflicting and ${r.unrepairable} unrepairable keys left` : ''),
        fields: { shard: e.shard, peer: e.peer, ...r }
      }
    }
    case 'round-finished': {
      const r = e.result
      const how = r.outcome === 'completed' ? 'completed' : `aborted (${r.reason ?? 'unknown'})`
      return {
        level: r.outcome === 'completed' ? 'INFO' : 'WARNING',
        msg: `Anti-entropy: Round with Node ${r.peer} ${how} (${shardName(r.shard)}): ${r.windowsCompared} windows compared, ${r.windowsDiverged} diverged, ${r.rowsRepaired} rows repaired` +
          // Said outright: otherwise tombstones silently pile up while every round with that peer fails.
          (r.reason === 'peer-disabled' ? `; Node ${r.peer} has anti_entropy.enabled false, so leaderless tombstones of ${shardName(r.shard)} are not purged (and a stale replica of it does not serve again) until it is enabled there` : ''),
        fields: { shard: r.shard, peer: r.peer, outcome: r.outcome, reason: r.reason, bytes: r.bytesExchanged, leaves: r.leavesExchanged }
      }
    }
  }
}

/** What a Mode 1 (primary/replica) verification round with one replica found (node/anti-entropy-mode1.ts). */
export interface Mode1RoundReport {
  readonly shard: ShardId
  readonly replica: NodeId
  readonly outcome: 'completed' | 'aborted'
  readonly reason: string | null
  /** Buckets whose hashes differed, keys found diverged, keys left to a later round (written since the snapshot). */
  readonly bucketsDiverged: number
  readonly rowsDiverged: number
  readonly rowsDeferred: number
  /** Rows written onto the replica from the primary, and diverged rows left as they are (not the same version on both: the log moves versions). */
  readonly rowsRepaired: number
  readonly rowsUnrepaired: number
  /** The snapshot compared (wall ms of its HLC). */
  readonly snapshotMs: number
  /** Rows left unrepaired: 'started' (the replica is re-bootstrapped from a snapshot) or why it was not. */
  readonly rebootstrap?: string
}

function unrepaired (r: Mode1RoundReport): string {
  if (r.rebootstrap === 'started') return `re-bootstrapping Node ${r.replica} from a snapshot of the primary`
  return `left as they are (no re-bootstrap: ${r.rebootstrap ?? 'not tried'})`
}

/**
 * The Mode 1 lines, in the same words as the leaderless ones: a divergence is always said (it is
 * silent corruption or a bug, never expected), so it is a WARNING; a clean round is INFO.
 */
export function mode1LogLine (r: Mode1RoundReport): AeLogLine {
  const fields = { shard: r.shard, replica: r.replica, outcome: r.outcome, reason: r.reason, bucketsDiverged: r.bucketsDiverged, rowsDiverged: r.rowsDiverged, rowsDeferred: r.rowsDeferred, rowsRepaired: r.rowsRepaired, rowsUnrepaired: r.rowsUnrepaired, snapshotMs: r.snapshotMs, rebootstrap: r.rebootstrap ?? null }
  const who = `Node ${r.replica}`
  if (r.outcome === 'aborted') {
    return { level: 'WARNING', msg: `Anti-entropy: Round with Node ${r.replica} aborted (${r.reason ?? 'unknown'}) (${shardName(r.shard)}, primary/replica)`, fields }
  }
  if (r.rowsDiverged > 0) {
    return {
      level: 'WARNING',
      msg: `Anti-entropy: ${who} diverged from the primary (${shardName(r.shard)}): ${r.rowsDiverged} rows differ, repaired ${r.rowsRepaired} rows from the primary` +
        (r.rowsUnrepaired > 0 ? `; ${r.rowsUnrepaired} rows not repaired in place (the replica holds another version or none): ${unrepaired(r)}` : ''),
      fields
    }
  }
  return {
    level: 'INFO',
    msg: `Anti-entropy: Round with Node ${r.replica} completed (${shardName(r.shard)}, primary/replica): ${r.bucketsDiverged} buckets differed, 0 rows diverged` +
      (r.rowsDeferred > 0 ? `, ${r.rowsDeferred} rows written since the snapshot left to a later round` : ''),
    fields
  }
}
