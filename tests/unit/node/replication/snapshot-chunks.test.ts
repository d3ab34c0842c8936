import { afterEach, describe, expect, it } from 'vitest'
import { asNodeId } from '../../../../src/core/ids'
import { rpcPayloads } from '../../../../src/net/rpc/payloads'
import { SnapshotStreams, STREAM_CHUNK_BYTES, STREAM_CHUNK_KEYS } from '../../../../src/node/replication/snapshot-stream'
import { codecOf } from '../../../../src/shard/protocol/ops'
import { HostClient } from '../../shard/host-fixtures'
import { ins, replicas, rows, SHARD, type Replica } from '../../storage/replica-fixtures'

// How big a bootstrap chunk is (node/replication/snapshot-stream.ts STREAM_CHUNK_*; issue 20 item
// 3): a chunk is one request on a shard worker at each end, which serves nothing else meanwhile,
// so a shard is streamed in small chunks even where storage.max_message_bytes would take it whole.
// Real LevelDB replicas behind shard hosts (the worker's request handling without the thread), the
// chunks through the RPC codec as they cross nodes.

const ROWS = 2_000
const PAYLOAD = 'p'.repeat(150)

describe('bootstrap chunk decoding', () => {
  // A chunk's entries decode as views into one copy of their bytes (CodecReader.blobPairs): one
  // allocation per chunk, not two per entry, on the joining node's main thread and worker and on
  // the source's main thread (issue 20 item 3: a joining node's CPU is the client load's).
  const entries = Array.from({ length: 300 }, (_, i) => ({ key: Uint8Array.of(0, i >> 8, i & 255), value: new Uint8Array(150).fill(i & 255) }))
  const oneCopy = (es: ReadonlyArray<{ key: Uint8Array, value: Uint8Array }>): number => new Set(es.flatMap(e => [e.key.buffer, e.value.buffer])).size

  it('REPL_SNAPSHOT_CHUNK (RPC 0x41) and the rings\' REPL_SNAPSHOT_INSTALL / REPL_SNAPSHOT_READ reply decode every entry into one buffer, equal to what was sent', () => {
    const id = { snapshotId: 7n, lsn: 9n, hlcHighWater: 5n }
    const rpc = rpcPayloads('REPL_SNAPSHOT_CHUNK')
    const sent = { shard: SHARD, generation: 2, from: asNodeId(1), ...id, snapshotGeneration: 1n, after: null, done: true, entries, voters: [asNodeId(1), asNodeId(2)] }
    const viaRpc = rpc.request.decode(rpc.request.encode(sent))
    const install = codecOf('REPL_SNAPSHOT_INSTALL')
    const viaRing = install.decodeRequest(install.encodeRequest({ shard: SHARD, ...id, generation: 1n, after: null, entries, done: true, voters: null }))
    const read = codecOf('REPL_SNAPSHOT_READ')
    const readReply = read.decodeReply(read.encodeReply({ ...id, generation: 1n, entries, done: false, split: null }))
    for (const got of [viaRpc.entries, viaRing.entries, readReply.entries]) {
      expect(got.map(e => [[...e.key], [...e.value]])).toEqual(entries.map(e => [[...e.key], [...e.value]]))
      expect(oneCopy(got)).toBe(1)
    }
  })
})

describe('bootstrap chunk size', () => {
  let open: Replica[] = []
  afterEach(async () => { for (const r of open) await r.destroy(); open = [] })

  it(`streams a shard of ${ROWS} rows (~0.4 MB, one chunk's worth at the default max_message_bytes) in chunks of at most STREAM_CHUNK_KEYS keys and STREAM_CHUNK_BYTES bytes; the replica ends with every row`, async () => {
    open = await replicas(1, 2)
    const [src, dst] = open as [Replica, Replica]
    for (let i = 0; i < ROWS; i += 200) await src.auto(...Array.from({ length: 200 }, (_, j) => ins(`k${String(i + j).padStart(5, '0')}`, PAYLOAD)))
    const from = new HostClient(new Map([[SHARD, src.engine]]), 60_000, src.clock)
    const to = new HostClient(new Map([[SHARD, dst.engine]]), 60_000, dst.clock)
    const codec = rpcPayloads('REPL_SNAPSHOT_CHUNK')
    const chunks: Array<{ keys: number, bytes: number }> = []
    const streams = new SnapshotStreams({
      self: asNodeId(1),
      workers: { request: async (op, req) => await from.request(op, req) },
      maxMessageBytes: 1 << 20, // storage.max_message_bytes' default
      sendChunk: async (_to, sent) => {
        const c = codec.request.decode(codec.request.encode(sent))
        chunks.push({ keys: c.entries.length, bytes: c.entries.reduce((n, e) => n + e.key.length + e.value.length, 0) })
        return await to.request('REPL_SNAPSHOT_INSTALL', {
          shard: SHARD, snapshotId: c.snapshotId, lsn: c.lsn, generation: c.snapshotGeneration, hlcHighWater: c.hlcHighWater, after: c.after, entries: c.entries, done: c.done, voters: c.voters ?? null
        })
      },
      log: () => {},
      now: () => 0
    })
    const done = await streams.stream(SHARD, asNodeId(2), 1)
    expect(done).not.toBeNull()
    const total = chunks.reduce((n, c) => n + c.bytes, 0)
    expect(total).toBeGreaterThan(ROWS * PAYLOAD.length)
    expect(done!.bytes).toBe(total)
    expect(chunks.length).toBeGreaterThanOrEqual(Math.ceil(total / STREAM_CHUNK_BYTES))
    for (const c of chunks) {
      expect(c.keys).toBeLessThanOrEqual(STREAM_CHUNK_KEYS)
      expect(c.bytes).toBeLessThanOrEqual(STREAM_CHUNK_BYTES)
    }
    expect(await rows(dst.engine)).toEqual(await rows(src.engine))
    expect((await rows(dst.engine)).length).toBe(ROWS)
    await from.host.close()
    await to.host.close()
  })
})
