import type { ShardId } from '../core/ids'

// The seam between the two halves of a running shard split (cluster/shard-split.ts has the design):
//  - the RUN (cluster level: node/split-runner.ts and the decider): the intent decided as a layout
//    epoch, a derive started and kept going on every node holding a copy of each parent, each
//    node's per-parent report carried in gossip, the final layout of 2n shards decided once every
//    holder of every parent reports 'switched';
//  - the SWITCH (shard level: node/split-switch.ts): on a parent's primary, the fence on child-side
//    writes and the switch entry at LSN S in the parent's log; on every holder, the derive stopping
//    exactly at S and the child made ready to be served once the 2n layout is adopted.
// Types only, so that both halves are written against one definition.

/** Where one holder of one parent stands. */
export type SplitParentPhase =
  /** Base copy or tail still running. */
  | 'copying'
  /** The child applied the parent's log to its end as this holder last read it (a bounded lag). */
  | 'caught_up'
  /** The child applied the parent's log exactly to the switch entry and is ready for the 2n layout. */
  | 'switched'

/** One holder's report on one parent (carried in gossip by the run; shown by SHOW SHARD MAP). */
export interface SplitParentReport {
  readonly parent: ShardId
  readonly phase: SplitParentPhase
  /** Parent log entries this holder's child had not applied at its last step (0 once switched). */
  readonly lagEntries: number
  /** Child-side row versions written into the child so far by this holder. */
  readonly rowsCopied: number
}

/** The switch half, as the run calls it on this node (implemented by node/split-switch.ts). */
export interface SplitSwitchHooks {
  /**
   * On the node that is the parent's primary (a single-copy shard: its owner), once every holder of
   * `parent` reported 'caught_up': fence child-side writes on the parent (SB_SHARD_SPLITTING) and
   * append the switch entry. Idempotent (a second call answers the same LSN). Resolves to the
   * switch LSN once the entry is committed, or null when it cannot be appended yet (a prepared
   * transaction or an open transaction holding child-side writes): the run calls again later.
   */
  beginSwitch (parent: ShardId, shards: number): Promise<bigint | null>
  /** The switch LSN this node's child of `parent` was derived exactly to, or null (not yet). */
  switchedAt (parent: ShardId, shards: number): Promise<bigint | null>
  /**
   * After switchedAt answered an LSN: make the child servable at the 2n layout (Mode 1: its group's
   * initial configuration is the parent's voters at the switch; a single copy: this node owns it
   * until placement moves it). Idempotent; called again after a restart.
   */
  startChild (parent: ShardId, shards: number): Promise<void>
}
