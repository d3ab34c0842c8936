import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isScratchBirdError } from '../../../src/core/errors'
import { CODEC_VERSIONS as WIRE_VERSIONS } from '../../../src/core/codec-versions'
import { GOSSIP_CODEC_VERSION } from '../../../src/cluster/gossip/codec'
import type { ClusterLayout } from '../../../src/cluster/layout'
import { GOSSIP_MAX_MEMBERS_PER_MESSAGE, MEMBER_STATES, type GossipAck, type GossipPing, type MemberRecord } from '../../../src/cluster/gossip/types'
import { RPC_OPCODE_INFO, type RpcOpcodeName } from '../../../src/net/rpc/opcodes'
import { RPC_PAYLOADS, rpcPayloads, type RpcReplies, type RpcRequests } from '../../../src/net/rpc/payloads'
import { SHARD_CODEC_BASE, SHARD_CODEC_VERSION, SHARD_OPS, codecOf, isLocalOnly, type ShardOpName } from '../../../src/shard/protocol/ops'
import { asNodeId, asShardId, asXid, MAX_SHARDS, NODE_ID_MAX, NODE_ID_MIN, type NodeId, type ShardId } from '../../../src/core/ids'

// The payload codec of every cluster RPC opcode (payloads.ts): round trips; any bytes from a peer
// decode or fail with SB_RPC_MALFORMED (SB_CODEC_VERSION when the first byte names a newer codec),
// never another exception; a newer version is refused naming both versions.

const FUZZ_RUNS = 1000

const text = (max: number): fc.Arbitrary<string> => fc.string({ maxLength: max })
const nonEmpty = (max: number): fc.Arbitrary<string> => fc.string({ minLength: 1, maxLength: max })
const count = fc.nat({ max: Number.MAX_SAFE_INTEGER })
const time = fc.double({ noNaN: true, noDefaultInfinity: true })

const member: fc.Arbitrary<MemberRecord> = fc.record({
  nodeId: fc.integer({ min: NODE_ID_MIN, max: NODE_ID_MAX }).map(n => asNodeId(n)),
  address: nonEmpty(40),
  datacenter: text(20),
  incarnation: count,
  heartbeat: count,
  state: fc.constantFrom(...MEMBER_STATES),
  bootId: nonEmpty(16),
  claimedOver: text(16),
  catalogVersion: count,
  oldestActiveHlc: text(24),
  shardReplicas: count
})
const members = fc.array(member, { maxLength: 5 })
const from = fc.integer({ min: NODE_ID_MIN, max: NODE_ID_MAX }).map(n => asNodeId(n))
const layout: fc.Arbitrary<ClusterLayout> = fc.record({
  cluster: nonEmpty(20),
  shards: fc.integer({ min: 1, max: 0xffff_ffff }),
  epoch: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  members: fc.uniqueArray(fc.integer({ min: NODE_ID_MIN, max: NODE_ID_MAX }).map(n => asNodeId(n)), { minLength: 1, maxLength: 5 }).map(ids => ids.sort((a, b) => a - b))
}).chain(l => fc.subarray(l.members).map(joining => joining.length === 0 ? l : { ...l, joining }))
const gossipPing: fc.Arbitrary<GossipPing> = fc.record({ type: fc.constant('ping' as const), from, hlc: text(24), members, sentAt: time, layout }, { requiredKeys: ['type', 'from', 'hlc', 'members', 'sentAt'] })
const gossipAck: fc.Arbitrary<GossipAck> = fc.record({ type: fc.constant('ack' as const), from, hlc: text(24), members, echoSentAt: time, answeredAt: time, layout }, { requiredKeys: ['type', 'from', 'hlc', 'members', 'echoSentAt', 'answeredAt'] })
/** Codec versions (what a node reads) by opcode and side: gossip and SHARD_QUERY have their own, every other payload reads up to rpcPayload. */
const readVersion = (name: string, side: string): number => name === 'GOSSIP_ACK' && side === 'reply' ? WIRE_VERSIONS.rpcPayload : name.startsWith('GOSSIP') ? GOSSIP_CODEC_VERSION : name === 'SHARD_QUERY' ? SHARD_CODEC_VERSION : WIRE_VERSIONS.rpcPayload
/**
 * The version a payload is written in: the lowest that carries it (core/codec-versions.ts). Gossip:
 * v1 without a layout, v4 with joining members, v3 with leaving or left ones, else v2; every shard
 * op body but MODIFY_ROW's (v5) and WRITE_READ's (v6) is unchanged since SHARD_CODEC_BASE; a snapshot chunk naming voters and a
 * MEMBERSHIP_STATUS reply reporting fills are v2, one carrying a split state v3.
 */
function lowestOf (name: string, side: string, v: unknown): number {
  if (name.startsWith('GOSSIP')) {
    const l = (v as { layout?: { joining?: unknown[], leaving?: unknown[], left?: unknown[] } } | null)?.layout
    if (l === undefined) return 1
    if ((l.joining ?? []).length > 0) return 4
    return (l.leaving ?? []).length > 0 || (l.left ?? []).length > 0 ? 3 : 2
  }
  // MODIFY_ROW's body is v5, WRITE_READ's v6 (new ops); every other op body is unchanged since SHARD_CODEC_BASE.
  // A request stamped with the shard count it was routed by (a split cluster) is v7 at least.
  if (name === 'SHARD_QUERY') {
    if (side !== 'request') return SHARD_CODEC_BASE
    const op = ({ MODIFY_ROW: 5, WRITE_READ: 6 } as Partial<Record<ShardOpName, number>>)[(v as { op: ShardOpName }).op] ?? SHARD_CODEC_BASE
    return (v as { shards?: number }).shards === undefined ? op : Math.max(op, 7)
  }
  if (name === 'REPL_SNAPSHOT_CHUNK' && side === 'request') return (v as { split?: unknown }).split !== undefined ? 3 : (v as { voters?: unknown }).voters === undefined ? 1 : 2
  if (name === 'MEMBERSHIP_STATUS' && side === 'reply') return ((v as { fills?: unknown[] }).fills ?? []).length > 0 ? 2 : 1
  // A split intent's judgedAt, and a stale refusal, are MEMBERSHIP_DECREE v5 (cluster/membership/epoch-decree.ts).
  if (name === 'MEMBERSHIP_DECREE') {
    const d = v as { kind: string, judgedAt?: number, accepted?: { judgedAt?: number } | null }
    return d.kind === 'stale' || d.judgedAt !== undefined || d.accepted?.judgedAt !== undefined ? 5 : 1
  }
  // A fetch reply reporting the splits its node holds (cluster/split-ddl-lock.ts) is v5.
  if (name === 'CATALOG_FETCH' && side === 'reply') return ((v as { holds?: unknown[] }).holds ?? []).length > 0 ? 5 : 1
  return 1
}

/** JSON documents as they come back from JSON (-0 is 0). */
const doc = fc.jsonValue({ maxDepth: 3 }).map(v => JSON.parse(JSON.stringify(v)) as unknown)
const bytes = fc.uint8Array({ maxLength: 40 })
// Ops a peer may send (the hint ops are this node's own: refused, tested below).
const shardOp = fc.constantFrom(...(Object.keys(SHARD_OPS) as ShardOpName[]).filter(op => !isLocalOnly(op)))

const ballot = fc.record({ round: count, node: from })
const decreeRequest: fc.Arbitrary<RpcRequests['MEMBERSHIP_DECREE']> = fc.oneof(
  fc.record({ kind: fc.constant('prepare' as const), epoch: count, ballot }),
  fc.record({ kind: fc.constant('accept' as const), ballot, layout }).map(v => ({ ...v, epoch: v.layout.epoch })),
  fc.record({ kind: fc.constant('accept' as const), ballot, layout, judgedAt: count }).map(v => ({ ...v, epoch: v.layout.epoch })))
const decreeReply: fc.Arbitrary<RpcReplies['MEMBERSHIP_DECREE']> = fc.oneof(
  fc.record({ kind: fc.constant('promise' as const), epoch: count, ballot, accepted: fc.option(fc.record({ ballot, layout }), { nil: null }) }),
  fc.record({ kind: fc.constant('promise' as const), epoch: count, ballot, accepted: fc.record({ ballot, layout, judgedAt: count }) }),
  fc.record({ kind: fc.constant('stale' as const), epoch: count, ballot, catalogVersion: count }),
  fc.record({ kind: fc.constant('accepted' as const), epoch: count, ballot }),
  fc.record({ kind: fc.constant('rejected' as const), epoch: count, ballot, promised: ballot }),
  fc.record({ kind: fc.constant('behind' as const), epoch: count, ballot, runs: count }))

const splitHold = fc.record({ kind: fc.constantFrom('recorded' as const, 'accepted' as const, 'lock' as const), epoch: count, shards: fc.integer({ min: 1, max: MAX_SHARDS }), lapsedMs: count, judgedAt: count }, { requiredKeys: ['kind', 'epoch', 'shards', 'lapsedMs'] }).map(h => ({ ...h, to: h.shards * 2 }))

type Arbs = { [K in RpcOpcodeName]: { req: fc.Arbitrary<RpcRequests[K]>, rep: fc.Arbitrary<RpcReplies[K]> } }

const ARBS: Arbs = {
  PING: { req: bytes, rep: bytes },
  GOSSIP_SYNC: { req: gossipPing, rep: fc.option(gossipAck, { nil: null }) },
  GOSSIP_ACK: { req: gossipAck, rep: fc.constant(null) },
  CATALOG_FETCH: {
    req: fc.constant({}),
    rep: fc.oneof(fc.record({ catalog: doc, coordinating: fc.boolean() }), fc.record({ catalog: doc, coordinating: fc.boolean(), holds: fc.array(splitHold, { minLength: 1, maxLength: 3 }) }))
  },
  CATALOG_APPLY: { req: fc.record({ catalog: doc }), rep: fc.record({ version: count }) },
  CATALOG_DDL: { req: fc.record({ sql: text(80) }), rep: fc.record({ command: text(20), warnings: fc.array(text(30), { maxLength: 3 }), catalog: doc }) },
  SHARD_QUERY: {
    req: fc.record({ op: shardOp, shard: fc.integer({ min: 0, max: MAX_SHARDS - 1 }).map(s => asShardId(s)), catalogVersion: fc.nat(), shards: fc.integer({ min: 1, max: MAX_SHARDS }), payload: bytes }, { requiredKeys: ['op', 'shard', 'catalogVersion', 'payload'] }),
    rep: fc.record({ payload: bytes })
  },
  TABLE_FENCE: {
    req: fc.oneof(
      fc.record({ action: fc.constant('fence' as const), tableId: fc.nat({ max: 0xffffffff }), token: text(40).filter(t => t.length > 0), shards: fc.array(fc.integer({ min: 0, max: MAX_SHARDS - 1 }).map(s => asShardId(s)), { maxLength: 5 }) }),
      fc.record({
        action: fc.constant('release' as const),
        tableId: fc.nat({ max: 0xffffffff }),
        token: text(40).filter(t => t.length > 0),
        shards: fc.constant<ShardId[]>([]),
        release: fc.oneof(fc.constant({ kind: 'now' as const }), fc.constant({ kind: 'unknown' as const }), fc.record({ kind: fc.constant('after' as const), version: count }))
      })),
    rep: fc.record({ rows: fc.boolean() })
  },
  REPL_MESSAGE: { req: fc.record({ messages: fc.array(bytes, { maxLength: 4 }) }), rep: fc.constant(null) },
  TXN_STATUS: { req: fc.record({ xid: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map(asXid) }), rep: fc.record({ live: fc.boolean() }) },
  SPLIT_LOCK: {
    req: fc.record({ take: fc.boolean(), epoch: count, shards: fc.integer({ min: 1, max: MAX_SHARDS }) }).map(r => ({ ...r, to: r.shards * 2 })),
    rep: fc.record({ granted: fc.boolean(), catalogVersion: count, refusal: text(80) })
  },
  MEMBERSHIP_STATUS: {
    req: fc.constant({}),
    rep: fc.record({
      primaries: fc.array(fc.record({ shard: fc.nat({ max: 0xffffffff }), voters: fc.array(fc.integer({ min: 1, max: 0xffff }).map(asNodeId), { maxLength: 5 }) }), { maxLength: 5 }),
      fills: fc.array(fc.record({ shard: fc.nat({ max: 0xffffffff }), factor: fc.integer({ min: 1, max: 9 }), targets: fc.array(fc.integer({ min: 1, max: 0xffff }).map(asNodeId), { maxLength: 5 }) }), { minLength: 1, maxLength: 5 })
    }, { requiredKeys: ['primaries'] })
  },
  REPL_SNAPSHOT_CHUNK: {
    req: fc.record({
      shard: fc.integer({ min: 0, max: MAX_SHARDS - 1 }).map(n => asShardId(n)),
      generation: count,
      from,
      snapshotId: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      lsn: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      snapshotGeneration: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      hlcHighWater: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      after: fc.option(bytes, { nil: null }),
      done: fc.boolean(),
      entries: fc.array(fc.record({ key: bytes, value: bytes }), { maxLength: 4 })
    }, { requiredKeys: ['shard', 'generation', 'from', 'snapshotId', 'lsn', 'snapshotGeneration', 'hlcHighWater', 'after', 'done', 'entries'] }).chain(v =>
      // v2: the last chunk names the group's voters; without them the chunk goes out as v1.
      fc.option(fc.uniqueArray(fc.integer({ min: 1, max: 0xffff }).map(asNodeId), { minLength: 1, maxLength: 16 }), { nil: undefined })
        .map(voters => voters === undefined ? v : { ...v, voters })
        // v3: the last chunk carries the source's split state (it writes the voters too: none reads back as []).
        .chain(w => fc.option(fc.record({ fence: fc.option(bytes, { nil: null }), cleanedFor: fc.nat(MAX_SHARDS) }), { nil: undefined })
          .map(split => split === undefined ? w : { ...w, voters: (w as { voters?: NodeId[] }).voters ?? [], split }))),
    rep: fc.record({ installedKeys: count, lastKey: fc.option(bytes, { nil: null }), complete: fc.boolean() })
  },
  MEMBERSHIP_DECREE: { req: decreeRequest, rep: decreeReply }
}

type Outcome = 'value' | 'SB_RPC_MALFORMED' | 'SB_CODEC_VERSION'

function outcome (decode: () => unknown): Outcome {
  try {
    decode()
    return 'value'
  } catch (e) {
    if (isScratchBirdError(e, 'SB_RPC_MALFORMED') || isScratchBirdError(e, 'SB_CODEC_VERSION')) return e.code as Outcome
    throw e
  }
}

function plain (v: unknown): unknown {
  if (v instanceof Uint8Array) return [...v]
  if (Array.isArray(v)) return v.map(plain)
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
  return v
}

describe('cluster RPC payload codecs', () => {
  it('has a codec for every opcode of the table', () => {
    expect(Object.keys(RPC_PAYLOADS).sort()).toEqual(RPC_OPCODE_INFO.map(i => i.name).sort())
    expect(Object.keys(ARBS).sort()).toEqual(RPC_OPCODE_INFO.map(i => i.name).sort())
  })

  for (const { name } of RPC_OPCODE_INFO) {
    const codec = rpcPayloads(name)
    const { req, rep } = ARBS[name] as { req: fc.Arbitrary<unknown>, rep: fc.Arbitrary<unknown> }
    const sides = [['request', codec.request, req], ['reply', codec.reply, rep]] as const
    describe(name, () => {
      it('round-trips requests and replies', () => {
        for (const [, c, arb] of sides) {
          fc.assert(fc.property(arb, v => {
            expect(plain(c.decode(c.encode(v as never)))).toEqual(plain(v))
          }), { numRuns: 200 })
        }
      })

      it('starts every payload with its codec version and refuses a newer one naming both', () => {
        for (const [side, c, arb] of sides) {
          const version = readVersion(name, side)
          fc.assert(fc.property(arb, fc.integer({ min: version + 1, max: 255 }), (v, newer) => {
            const b = c.encode(v as never)
            expect(b[0]).toBe(lowestOf(name, side, v))
            const future = Uint8Array.of(newer, ...b.subarray(1))
            let err: unknown
            try { c.decode(future) } catch (e) { err = e }
            expect(err, `${name} ${side}`).toMatchObject({ code: 'SB_CODEC_VERSION', details: { version: newer, supported: version } })
            expect((err as Error).message).toContain(`version ${newer}, this node speaks up to version ${version}`)
          }), { numRuns: 20 })
        }
      })

      it('answers random, truncated and flipped bytes with a coded error or a value, never a crash', () => {
        for (const [, c, arb] of sides) {
          fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), b => { outcome(() => c.decode(b)) }), { numRuns: FUZZ_RUNS })
          fc.assert(fc.property(arb, fc.nat(), fc.nat({ max: 255 }), fc.boolean(), (v, at, byte, cut) => {
            const b = c.encode(v as never)
            const m = cut ? b.subarray(0, at % b.length) : Uint8Array.from(b, (x, i) => i === at % b.length ? byte : x)
            outcome(() => c.decode(m))
          }), { numRuns: FUZZ_RUNS })
        }
      })
    })
  }

  it('refuses version 0, trailing bytes, out-of-bound gossip and unknown shard ops as SB_RPC_MALFORMED', () => {
    const ping: GossipPing = { type: 'ping', from: asNodeId(1), hlc: '', members: [], sentAt: 0 }
    const g = rpcPayloads('GOSSIP_SYNC').request
    const good = g.encode(ping)
    expect(outcome(() => g.decode(Uint8Array.of(0, ...good.subarray(1))))).toBe('SB_RPC_MALFORMED')
    expect(outcome(() => g.decode(Uint8Array.of(...good, 0)))).toBe('SB_RPC_MALFORMED')
    // An ack where a ping belongs, node id 0, too many members, an address over the bound.
    const ack: GossipAck = { type: 'ack', from: asNodeId(1), hlc: '', members: [], echoSentAt: 0, answeredAt: 0 }
    expect(outcome(() => g.decode(rpcPayloads('GOSSIP_ACK').request.encode(ack)))).toBe('SB_RPC_MALFORMED')
    // @ts-expect-error node id 0 is not a NodeId: only an untyped sender can put it on the wire
    expect(outcome(() => g.decode(g.encode({ ...ping, from: 0 })))).toBe('SB_RPC_MALFORMED')
    const m: MemberRecord = { nodeId: asNodeId(2), address: 'a:1', datacenter: '', incarnation: 0, heartbeat: 0, state: 'normal', bootId: 'b', claimedOver: '', catalogVersion: 0, oldestActiveHlc: '', shardReplicas: 0 }
    expect(outcome(() => g.decode(g.encode({ ...ping, members: Array.from({ length: GOSSIP_MAX_MEMBERS_PER_MESSAGE + 1 }, () => m) })))).toBe('SB_RPC_MALFORMED')
    expect(outcome(() => g.decode(g.encode({ ...ping, members: [{ ...m, address: 'x'.repeat(300) }] })))).toBe('SB_RPC_MALFORMED')
    expect(outcome(() => g.decode(g.encode({ ...ping, sentAt: Infinity })))).toBe('SB_RPC_MALFORMED')
    const q = rpcPayloads('SHARD_QUERY').request
    const sq = q.encode({ op: 'GET', shard: asShardId(3), catalogVersion: 7, payload: Uint8Array.of(1) })
    expect([...sq.subarray(0, 7)]).toEqual([SHARD_CODEC_BASE, SHARD_OPS.GET.code, 0, 0, 0, 3, 7])
    sq[1] = 200
    expect(outcome(() => q.decode(sq))).toBe('SB_RPC_MALFORMED')
    expect(outcome(() => rpcPayloads('CATALOG_APPLY').request.decode(Uint8Array.of(1, 1, 0x7b)))).toBe('SB_RPC_MALFORMED')
  })

  it('carries a shard op\'s own binary payload through SHARD_QUERY unchanged', () => {
    const get = codecOf('GET')
    const payload = get.encodeRequest({ shard: asShardId(5), tableId: 9, pk: ['k', 1n], xid: asXid(77n) })
    const q = rpcPayloads('SHARD_QUERY').request
    const back = q.decode(q.encode({ op: 'GET', shard: asShardId(5), catalogVersion: 1, payload }))
    expect(back.op).toBe('GET')
    expect(get.decodeRequest(back.payload)).toMatchObject({ shard: 5, tableId: 9, pk: ['k', 1n], xid: 77n })
  })

  it('refuses SHARD_QUERY payloads older than SHARD_CODEC_BASE (op bodies of another shape) instead of misreading them', () => {
    const { request, reply } = rpcPayloads('SHARD_QUERY')
    const req = request.encode({ op: 'PING', shard: asShardId(0), catalogVersion: 0, payload: Uint8Array.of(0, 0, 0, 0) })
    const rep = reply.encode({ payload: Uint8Array.of(1, 2) })
    const older = (b: Uint8Array): Uint8Array => Uint8Array.of(SHARD_CODEC_BASE - 1, ...b.subarray(1))
    const refused = expect.objectContaining({ code: 'SB_RPC_MALFORMED', message: expect.stringContaining('older than this node reads') })
    expect([req[0], rep[0]]).toEqual([SHARD_CODEC_BASE, SHARD_CODEC_BASE])
    expect(() => request.decode(older(req))).toThrow(refused)
    expect(() => reply.decode(older(rep))).toThrow(refused)
  })

  it('stamps a SHARD_QUERY with the shard count it was routed by only when given one (v7), and refuses a count above MAX_SHARDS', () => {
    const q = rpcPayloads('SHARD_QUERY').request
    const payload = Uint8Array.of(0xaa)
    const plain = q.encode({ op: 'GET', shard: asShardId(3), catalogVersion: 7, payload })
    expect(plain[0]).toBe(SHARD_CODEC_BASE)
    expect(q.decode(plain).shards).toBeUndefined()
    const stamped = q.encode({ op: 'GET', shard: asShardId(3), catalogVersion: 7, shards: 32, payload })
    expect([...stamped]).toEqual([7, SHARD_OPS.GET.code, 0, 0, 0, 3, 7, 32, 0xaa])
    expect(q.decode(stamped)).toMatchObject({ op: 'GET', shard: 3, catalogVersion: 7, shards: 32, payload })
    // MODIFY_ROW (v5) stamped goes as v7 too; 0 in the count's place is "none".
    expect(q.encode({ op: 'MODIFY_ROW', shard: asShardId(0), catalogVersion: 0, shards: 2, payload })[0]).toBe(7)
    expect(q.decode(Uint8Array.of(7, SHARD_OPS.GET.code, 0, 0, 0, 3, 7, 0, 0xaa)).shards).toBeUndefined()
    const tooMany = q.encode({ op: 'GET', shard: asShardId(3), catalogVersion: 7, shards: MAX_SHARDS + 1, payload })
    expect(() => q.decode(tooMany)).toThrow(expect.objectContaining({ code: 'SB_RPC_MALFORMED', message: expect.stringContaining('above the maximum') }))
  })

  it('refuses a SHARD_QUERY naming a shard id at or above MAX_SHARDS', () => {
    const q = rpcPayloads('SHARD_QUERY').request
    const payload = Uint8Array.of(0xaa, 0xbb)
    const ok = q.encode({ op: 'PING', shard: asShardId(MAX_SHARDS - 1), catalogVersion: 0, payload })
    expect(q.decode(ok)).toEqual({ op: 'PING', shard: MAX_SHARDS - 1, catalogVersion: 0, payload })
    // The shard u32 is big-endian and followed by the catalog version (one byte for 0) and the
    // payload: the 4 bytes before the last 3.
    const bad = ok.slice()
    new DataView(bad.buffer).setUint32(bad.length - 7, MAX_SHARDS, false)
    expect(() => q.decode(bad)).toThrow(expect.objectContaining({ code: 'SB_RPC_MALFORMED', message: expect.stringContaining(`shard id ${MAX_SHARDS}`) }))
  })

  it('refuses a SHARD_QUERY naming a hint op: a peer neither reads nor changes this node\'s hint log', () => {
    const q = rpcPayloads('SHARD_QUERY').request
    const local = (Object.keys(SHARD_OPS) as ShardOpName[]).filter(isLocalOnly)
    expect(local).toEqual(expect.arrayContaining(['HINT_ADD', 'HINT_LIST', 'HINT_REMOVE', 'HINT_LEGACY_READ']))
    for (const op of local) {
      const payload = codecOf('HINT_STATS').encodeRequest({ shard: asShardId(0) })
      expect(() => q.decode(q.encode({ op, shard: asShardId(0), catalogVersion: 0, payload })), op).toThrow(expect.objectContaining({ code: 'SB_RPC_MALFORMED', message: expect.stringContaining('not served to peers') }))
    }
  })
})
