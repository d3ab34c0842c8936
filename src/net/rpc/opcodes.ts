// THE table of cluster RPC opcodes (DESIGN §7, §10 "one source per fact"): number, name and what
// the message asks. The server's dispatch, the client's `call` and the metrics' `opcode` label all
// derive from it; nothing else lists opcodes. Numbers are on the wire: never renumber or reuse,
// only append. 0 is reserved (never valid). Ranges group subsystems so a number says where it
// belongs: 0x01–0x0F node, 0x10 gossip, 0x20 catalog, 0x30 shard work, later ones for
// replication, hints, anti-entropy and 2PC.
//
// A peer that does not know an opcode (an older release during a rolling upgrade) answers that
// message alone with SB_RPC_UNKNOWN_OPCODE; the rest of its batch is served.

const ROWS = [
  [0x01, 'PING', 'liveness and round-trip probe; the reply echoes the payload'],
  [0x02, 'TXN_STATUS', 'is the receiver still running the transaction with this xid (it coordinates it)? A participant asks before rolling back an uncommitted version the transaction left behind'],
  [0x10, 'GOSSIP_SYNC', 'push the sender\'s membership digest; the reply is the receiver\'s digest (SWIM exchange)'],
  [0x11, 'GOSSIP_ACK', 'acknowledge a gossip exchange, carrying the entries the sender was missing'],
  [0x12, 'MEMBERSHIP_STATUS', 'the Mode 1 shards the receiver leads and the voters of each (the membership decider ends a drain once every shard runs on its new replicas)'],
  [0x13, 'MEMBERSHIP_DECREE', 'a membership decree of the next epoch: a proposer\'s prepare or accept to a voter of the current layout, answered once the voter recorded its promise or acceptance (cluster/membership/epoch-decree.ts)'],
  [0x20, 'CATALOG_FETCH', 'ask for the catalog (or the changes since a catalog version)'],
  [0x21, 'CATALOG_APPLY', 'apply a catalog change at a given catalog version (idempotent by version)'],
  [0x22, 'CATALOG_DDL', 'run a DDL statement on the catalog coordinator (the lowest live node id), which then pushes the new catalog to every live node'],
  [0x23, 'TABLE_FENCE', 'fence a table against writes on the receiver\'s replicas of some shards and say whether they hold a row of it, or release such a fence (a DDL that needs an empty table)'],
  [0x24, 'SPLIT_LOCK', 'take or release the split lock on the catalog coordinator: while the membership decider decides a shard split\'s start, DDL the split depends on is refused there (cluster/split-ddl-lock.ts); refused while a DDL statement runs'],
  [0x30, 'SHARD_QUERY', 'per-shard work forwarded to a node holding a replica of that shard'],
  [0x40, 'REPL_MESSAGE', 'Mode 1 replication: a batch of replication messages (appends, replies, votes) of the shards\' groups the two nodes share'],
  [0x41, 'REPL_SNAPSHOT_CHUNK', 'Mode 1 replica bootstrap: one chunk of a consistent snapshot of a shard, from its primary, installed on the receiver (resumable: the reply names the last key installed)']
] as const satisfies ReadonlyArray<readonly [number, string, string]>

export type RpcOpcodeName = typeof ROWS[number][1]

export interface RpcOpcodeInfo {
  readonly code: number
  readonly name: RpcOpcodeName
  readonly description: string
}

export const RPC_OPCODE_INFO: readonly RpcOpcodeInfo[] = ROWS.map(([code, name, description]) => ({ code, name, description }))

/** Opcode number by name. */
export const RPC_OPCODES = Object.fromEntries(ROWS.map(([code, name]) => [name, code])) as Readonly<Record<RpcOpcodeName, number>>

const byCode = new Map<number, RpcOpcodeInfo>(RPC_OPCODE_INFO.map(i => [i.code, i]))

/** The table row of an opcode number, undefined when this release does not know it. */
export function rpcOpcodeInfo (code: number): RpcOpcodeInfo | undefined {
  return byCode.get(code)
}

/** The label metrics and errors use for an opcode number (known name, else `0x..`). */
export function rpcOpcodeLabel (code: number): string {
  return byCode.get(code)?.name ?? `0x${code.toString(16).padStart(2, '0')}`
}

// Checked once at load: a duplicate or out-of-range number is a bug in the table above.
for (const [code] of ROWS) {
  if (!Number.isInteger(code) || code < 1 || code > 0xff) throw new Error(`ScratchBird assertion: RPC opcode ${code} outside 1..255`)
}
if (byCode.size !== ROWS.length) throw new Error('ScratchBird assertion: duplicate RPC opcode number')
