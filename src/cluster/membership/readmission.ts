import type { NodeId } from '../../core/ids'
import { FIRST_LAYOUT_EPOCH } from '../layout'

// Who may join again (issue 20; membership simulation finding 5). Pure.
//
// A removed node never returns with its data (README "A removed node is no member: to bring it
// back, start it with an empty data directory"): its Mode 1 logs, voter lists and leaderless rows
// are from before its removal, and admitted again it would be taken at its word. compareLayouts
// (epochs.ts) tells a removed node that recorded a later epoch from a new node, but not one whose
// data directory still records epoch 1 — a founding member removed before it learned any later
// layout: its layout lists itself and members the cluster knows, exactly what a new node's
// cluster.nodes does. So the decider re-admitted it, e.g. on its last gossip still in flight when
// REMOVE NODE was decided (the membership simulation dropped a killed node's messages to avoid
// it), and the Mode 1 shards it was a voter of waited for it for good.
//
// What tells them apart is the process, not the layout:
//  - its id is one this node recorded as removed (node/cluster.ts keeps that record on disk) and its
//    data directory holds the cluster's catalog (the catalog version its gossip record carries is
//    above 0): a new node under a new id may hold the catalog too (it can fetch it while its
//    admission is on the way), so the catalog alone decides nothing;
//  - its boot id is one this node knew for that member before it was removed: the removed process
//    itself (its late messages, its records relayed by peers) — for a cluster without tables yet.
// Either refuses the join with a reason naming the way back; a process restarted with an emptied
// data directory has a new boot id and catalog version 0, and is admitted as any new node.

/** The process asking to join, as its gossip record describes it. */
export interface JoinerProcess {
  readonly bootId: string
  /** The catalog version its data directory holds (0: none, an empty data directory). */
  readonly catalogVersion: number
}

const WAY_BACK = 'a removed node never returns with its data: to bring it back, stop it, empty its data directory and start it again (it joins as a new node)'

/**
 * Why node `node`'s join is refused (see the header), null to admit it. `removedBoots`: the boot
 * ids this node knew for `node` while it was a member it has since seen removed (none: never one).
 */
export function rejoinRefusal (node: NodeId, joiner: JoinerProcess, removedBoots: ReadonlySet<string> | undefined, removed: boolean): string | null {
  // The catalog tells only of a node this one knows was removed (`removed`: the durable record of
  // removed members, node/cluster.ts, which survives a restart unlike removedBoots): a NEW node may
  // fetch the catalog while its admission is on the way (catalog catch-up follows gossip), and
  // refusing it for that would keep it out for good.
  if (removed && joiner.catalogVersion > 0) {
    return `node ${node} asks to join with a data directory that holds catalog version ${joiner.catalogVersion} of this cluster: it was a member (removed since), not a new node; ${WAY_BACK}`
  }
  if (removedBoots?.has(joiner.bootId) === true) {
    return `node ${node} asks to join from the process that ran it before it was removed (REMOVE NODE; boot ${joiner.bootId}): ${WAY_BACK}`
  }
  return null
}

/**
 * On a node not admitted (compareLayouts 'awaiting'): why it must not wait to be admitted, null
 * when it may (see the header: a node holding the catalog was a member, and the cluster's layout
 * at `epoch` no longer lists it).
 */
export function removedSelfReason (self: NodeId, catalogVersion: number, epoch: number): string | null {
  // At the first epoch nobody was removed: two clusters configured apart (compareLayouts says so).
  if (catalogVersion === 0 || epoch <= FIRST_LAYOUT_EPOCH) return null
  return `this node (${self}) holds catalog version ${catalogVersion} of the cluster, whose membership epoch ${epoch} no longer lists it: it was removed (REMOVE NODE); ${WAY_BACK}`
}
