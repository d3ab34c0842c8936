import type { NodeId } from '../../core/ids'
import type { Generation, Lsn, ReplMessage, SyncReplicas, VoteReply } from './types'

// The pure decision rules of Mode 1 replication, apart from the machine so each is tested alone.

export function majority (voters: number): number {
  return Math.floor(voters / 2) + 1
}

/**
 * Is a log ending at (lastGeneration, lastLsn) at least as complete as ours (Raft §5.4.1)? A voter
 * never votes for a log behind its own: that is what keeps every committed entry in every later
 * primary's log.
 */
export function logAtLeastAsComplete (theirGen: Generation, theirLsn: Lsn, ourGen: Generation, ourLsn: Lsn): boolean {
  return theirGen > ourGen || (theirGen === ourGen && theirLsn >= ourLsn)
}

/** What a node's disk holds of a shard's log (the replication hard state and the log's end). */
export interface DiskLog { readonly generation: Generation, readonly lastGeneration: Generation, readonly lastLsn: Lsn }

/**
 * The answer of a node that runs no group of the shard (it holds no copy, or its group is not
 * started) to a message of it: a pre-vote is answered from what its disk holds — granted when it
 * holds no log or the candidate's is at least as complete — because a forced campaign asks every
 * live member (machine.ts setGone) and must hear from each; a retired or not yet restarted copy
 * with a more complete log refuses, as its group would. Anything else: no answer (null).
 */
export function preVoteFromDisk (self: NodeId, msg: ReplMessage, disk: DiskLog): VoteReply | null {
  if (msg.type !== 'vote' || !msg.preVote || msg.from === self) return null
  const granted = disk.lastGeneration === 0 || logAtLeastAsComplete(msg.lastGeneration, msg.lastLsn, disk.lastGeneration, disk.lastLsn)
  return { type: 'vote-reply', generation: granted ? msg.generation : disk.generation, from: self, granted, preVote: true }
}

/**
 * Does a node that runs no group of the shard start one because of `msg`? A real vote request (a
 * candidate asks only its voters) or an append (a primary sends them to its voters and learners)
 * of a generation not behind this node's disk, while the disk holds the shard's log — or a
 * pre-vote while the voters its replication state records (`recordedVoters`) list it: the sender's
 * log says this node is one of the group even when this node's own does not — e.g. it crashed
 * right after installing its bootstrap snapshot, before the config entry promoting it reached it,
 * so its shell (membership/moves.ts over the disk's voters) never starts its group, and a group
 * whose majority needs its vote waits for good (issue 20, membership simulation seed 302). A
 * pre-vote is answered from the disk too (preVoteFromDisk); as a forced campaign asks every live
 * member, it starts a group only where the disk says this node is a voter: a node that let its
 * copy go once the new replicas were voters, before a primary removed it, still counts in every
 * majority, and without its vote a group of four needs all three others' at once (seed 488).
 * The group it starts loads the
 * disk's log and learns the rest by normal catch-up; the shell keeps it while contacted
 * (membership/moves.ts keptOnContact).
 */
export function startsOnContact (self: NodeId, msg: ReplMessage, disk: DiskLog, recordedVoters: readonly NodeId[] = [], removed = false): boolean {
  if (msg.from === self || (msg.type !== 'vote' && msg.type !== 'append')) return false
  // `removed`: this node stopped its group itself, its voters then no longer listing it (it held
  // its removal, committed). The primary still sends it a few heartbeats after that (machine.ts
  // `departing`); starting the group again on them would bring back, from a log tail that may not
  // hold the removal, a voter that campaigns for good (bench rebalance).
  if (removed && msg.type === 'append') return false
  if (msg.generation < disk.generation || (disk.lastGeneration === 0 && disk.lastLsn === 0n)) return false
  return isContact(msg) || recordedVoters.includes(self)
}

/** A message only a member of the group is sent: a real vote request or an append (see startsOnContact). */
export function isContact (msg: ReplMessage): boolean {
  return (msg.type === 'vote' && !msg.preVote) || msg.type === 'append'
}

/** The k-th largest value (k ≥ 1) of `values`, or null if there are fewer. */
function kthLargest<T extends bigint | number> (values: T[], k: number): T | null {
  if (k < 1 || k > values.length) return null
  const sorted = [...values].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0))
  return sorted[k - 1]!
}

/**
 * The highest LSN a majority of `voters` holds durably (`match` gives each voter's, the primary's
 * own included). The caller commits it only if it is of the primary's generation (Raft §5.4.2).
 */
export function majorityMatch (voters: readonly NodeId[], match: (v: NodeId) => Lsn): Lsn | null {
  return kthLargest(voters.map(match), majority(voters.length))
}

/**
 * Replicas besides the primary that must hold an entry durably before the client is answered:
 * majority → a majority of the voters with the primary; k → k, capped at the other voters there
 * are (a group of one acknowledges alone). Learners never count.
 */
export function requiredReplicas (sync: SyncReplicas, voters: number): number {
  const others = Math.max(0, voters - 1)
  if (sync === 'majority') return Math.max(0, majority(voters) - 1)
  return Math.min(sync, others)
}

/**
 * The highest LSN the primary may acknowledge: it holds it durably (selfMatch) and `required`
 * other voters do too. `peers` are the other voters' match LSNs.
 */
export function ackableLsn (selfMatch: Lsn, peers: readonly Lsn[], required: number): Lsn {
  if (required === 0) return selfMatch
  const k = kthLargest([...peers], required)
  if (k === null) return 0n
  return k < selfMatch ? k : selfMatch
}

/**
 * Until when (the primary's monotonic clock) its lease holds: the time of the newest send a
 * majority of voters has acknowledged (the primary's own "acknowledgement" is now) plus leaseMs.
 * `stamps` are the other voters' latest echoed send times (−Infinity for none).
 */
export function leaseUntil (now: number, stamps: readonly number[], voters: number, leaseMs: number): number {
  const s = kthLargest([now, ...stamps], majority(voters))
  return s === null ? -Infinity : s + leaseMs
}

/**
 * May the primary wipe replica `target`'s copy and bootstrap it again from a snapshot (issue 15
 * item 6: anti-entropy found versions missing or extra on it, which no log entry will fix)? Its
 * log restarts at the snapshot's LSN, so for a while it holds less than it acknowledged; that is
 * safe only if every entry the clients were told of (`mustKeep`: the commit LSN, or the
 * acknowledged LSN when sync_replicas acknowledges beyond it) is held by a majority of the voters
 * WITHOUT it — then any later primary (which needs that majority's votes, one of them holding the
 * entry) still has it. With N = 2 that majority is both nodes, so a two-replica shard is never
 * re-bootstrapped this way. Null when allowed, else why not.
 */
export function rebootstrapRefusal (voters: readonly NodeId[], self: NodeId, target: NodeId, match: (v: NodeId) => Lsn, mustKeep: Lsn): string | null {
  if (target === self) return 'the primary cannot re-bootstrap itself'
  const holding = voters.filter(v => v !== target && match(v) >= mustKeep).length
  const need = majority(voters.length)
  if (holding < need) {
    return `only ${holding} of the ${voters.length} voters besides node ${target} hold LSN ${mustKeep}; a majority (${need}) must, so that wiping node ${target}'s copy cannot lose an acknowledged commit`
  }
  return null
}
