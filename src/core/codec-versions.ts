import { assert } from './errors'

// The one table of the versions of every codec whose bytes travel between nodes (DESIGN §7), and
// the one rule they follow so that a rolling upgrade can mix the current and the next minor
// release (README "Rolling restart and upgrading"):
//
//   A node READS every version of a codec up to its own (the number below) and refuses a newer
//   one with SB_CODEC_VERSION (counted in scratchbird_codec_version_refused_total{codec}); it
//   WRITES each message in the LOWEST version that can carry it (core/codec.ts versionedLowest).
//
// So a release that adds something to a codec bumps its number here and writes the new version
// only in the messages that use the addition: everything else still goes out in the old version,
// which a node of the previous release reads. A message that does need the addition is refused
// by such a node (nothing applied, counted), so the protocol must do without it between new and
// old nodes (e.g. replication's TimeoutNow: the hand-over falls back to an election). Nothing is
// negotiated: a writer needs no knowledge of its peer, and the rule holds for gossip, which is
// how peers would learn of each other in the first place.
//
// What travels and is versioned here:
//   rpcFrame        the cluster RPC frame (net/rpc/wire.ts). NOT under the lowest-version rule: its
//                   version changes the framing itself, so it changes only in a major release
//                   (a whole-cluster restart); never bumped by a rehearsal build.
//   rpcPayload      every cluster RPC opcode's payload that has no codec of its own below (net/rpc/payloads.ts)
//   rpcError        the error reply payload (net/rpc/remote-error.ts)
//   gossip          GOSSIP_SYNC / GOSSIP_ACK (cluster/gossip/codec.ts)
//   replication     Mode 1 replication messages (cluster/replication/codec.ts)
//   replicatedEntry a Mode 1 log entry's data payload, written by the primary and shipped verbatim
//                   to the replicas (node/replication/entry-payload.ts)
//   shard           the shard op bodies inside SHARD_QUERY (shard/protocol/op-codecs.ts)
// Formats that stay on one node (the replication records, the commit log, keys) have their own
// versions next to them and are out of this table.

/** How far each node reads each codec (the version a writer may use at most). */
const CURRENT = {
  rpcFrame: 2,
  // 2: REPL_SNAPSHOT_CHUNK's last chunk names the group's voters; MEMBERSHIP_STATUS reports leaderless fills.
  // 3: MEMBERSHIP_DECREE carries a layout with a split under way (gossip layout format v5).
  // 4: MEMBERSHIP_DECREE carries a layout with removing members or a placement count (format v6).
  // 5: CATALOG_FETCH's reply reports the splits the answering node holds (cluster/split-ddl-lock.ts).
  rpcPayload: 5,
  rpcError: 1,
  // 4: a layout with joining members (leaderless tables in a join).
  // 5: a split under way: the layout's intent, the members' per-parent reports (cluster/split-run.ts).
  // 6: the layout's removing members (REMOVE NODE) and placement count (after a split).
  // 7: a member's Mode 1 groups still changing their voters (a split's start waits for none).
  gossip: 7,
  replication: 2,
  // 3: a shard split's switch entry (commit-log.ts control kind 3) rides as a data payload.
  // 4: the switch entry carries its fence's rule (a child-side-only fence, storage/split-fence.ts).
  replicatedEntry: 4,
  // 5: MODIFY_ROW (a pk-pinned UPDATE / DELETE in one request).
  // 6: WRITE_READ (a read committed statement's WRITE naming the HLC its rows were read at).
  // 7: SHARD_QUERY carries the shard count the request was routed by (a split: cluster/shard-count-guard.ts).
  shard: 7
} as const

export type WireCodec = keyof typeof CURRENT
export const WIRE_CODECS = Object.keys(CURRENT) as readonly WireCodec[]

// A rehearsal of the next release, chosen at BUILD time only (build.mjs --next-codec a,b: an
// esbuild `define`; never an environment variable or a config key): that build reads the named
// codecs up to their version + 1 and is otherwise the same program. The rolling-upgrade test
// (tests/cluster/rolling-upgrade.test.ts) replaces a cluster of the current build with it node
// by node. Running from source, or from an ordinary build, it is undefined.
declare const __SB_NEXT_CODEC__: string | undefined
const NEXT: string | undefined = typeof __SB_NEXT_CODEC__ !== 'undefined' ? __SB_NEXT_CODEC__ : undefined

function withNext (next: string | undefined): Readonly<Record<WireCodec, number>> {
  const out: Record<WireCodec, number> = { ...CURRENT }
  for (const name of next === undefined || next === '' ? [] : next.split(',')) {
    assert((WIRE_CODECS as readonly string[]).includes(name) && name !== 'rpcFrame', `build-time next codec ${name} is not one of ${WIRE_CODECS.filter(c => c !== 'rpcFrame').join(', ')}`)
    out[name as WireCodec] = CURRENT[name as WireCodec] + 1
  }
  return out
}

/** The highest version of each wire codec this build reads (and may write). */
export const CODEC_VERSIONS: Readonly<Record<WireCodec, number>> = withNext(NEXT)
