import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/core/clock'
import { ShardedHintLog } from '../../../src/cluster/hints/sharded-log'
import { upgradeLegacyHints, type UpgradeRequester } from '../../../src/node/hint-upgrade'
import { openShardEngines } from '../../../src/shard/open-engines'
import { HintStore, LEGACY_HINT_DIR, type Hint } from '../../../src/storage/hint-store'
import { LevelKv } from '../../../src/storage/kv-level'
import { HostClient } from '../shard/host-fixtures'
import { asNodeId, asShardId, asXid, shardIds } from '../../../src/core/ids'

// The upgrade from a data directory whose hint log is the previous release's own LevelDB,
// `<data_dir>/hints`, written here by the HintStore code that release ran: at start the node
// copies it into the shard stores through the worker ops (a real worker's host over real LevelDB
// shard stores), then deletes it; a crash half-way loses nothing and duplicates nothing.

const SHARDS = 3
const dirs: string[] = []
const hosts: HostClient[] = []

afterEach(async () => {
  for (const h of hosts.splice(0)) await h.host.close()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function dataDir (): string {
  const d = mkdtempSync(join(tmpdir(), 'sb-hint-upgrade-'))
  dirs.push(d)
  return d
}

function hint (i: number): Hint {
  return { target: asNodeId(2 + (i % 2)), shard: asShardId(i % SHARDS), tableId: 4, key: Uint8Array.of(0x31, i), xid: asXid(BigInt(100 + i)), versionId: new Uint8Array(16).fill(i), row: i % 5 === 0 ? null : new Uint8Array(40).fill(i), createdAtMs: 1_700_000_000_000 + i }
}

/** The previous release's `<data_dir>/hints`, written by its HintStore over LevelDB. */
async function writeLegacy (dir: string, n: number): Promise<Map<number, { count: number, bytes: number }>> {
  const store = await HintStore.open(await LevelKv.open(join(dir, LEGACY_HINT_DIR)))
  await store.add(Array.from({ length: n }, (_, i) => hint(i)))
  const stats = store.stats()
  await store.close()
  return stats
}

/** One worker's host over real LevelDB shard stores, as workers/shard-worker.ts opens them. */
async function startWorker (dir: string): Promise<HostClient> {
  const clock = new ManualClock()
  const stores = await openShardEngines({ dataDir: dir, nodeId: asNodeId(1), shards: shardIds(SHARDS), durability: 'sync', lsm: { writeBufferSize: 1 << 20, cacheSize: 1 << 20, maxOpenFiles: 50 }, xidCounter: new SharedArrayBuffer(8) }, clock)
  const c = new HostClient(stores.engines, 60_000, clock, 0, { hints: stores.hints, dataDir: dir })
  hosts.push(c)
  return c
}

async function stop (c: HostClient): Promise<void> {
  hosts.splice(hosts.indexOf(c), 1)
  await c.host.close()
}

async function figures (c: HostClient): Promise<Map<number, { count: number, bytes: number }>> {
  const log = new ShardedHintLog({ shardCount: { shards: SHARDS }, maxMessageBytes: 1 << 20, request: (op, req) => c.request(op, req) })
  await log.load()
  return log.stats()
}

describe('upgrade of a previous release\'s <data_dir>/hints', () => {
  it('copies every hint into the store of its shard, then deletes the directory; a restart reports the same figures', async () => {
    const dir = dataDir()
    const before = await writeLegacy(dir, 30)
    const w = await startWorker(dir)
    const report = await upgradeLegacyHints(dir, SHARDS, 4096, (op, req) => w.request(op, req))
    expect(report).toEqual({ copied: 30, read: 30, dropped: 0 })
    expect(existsSync(join(dir, LEGACY_HINT_DIR))).toBe(false)
    expect(await figures(w)).toEqual(before)
    // Each hint is in its own shard's store, intact.
    const log = new ShardedHintLog({ shardCount: { shards: SHARDS }, maxMessageBytes: 1 << 20, request: (op, req) => w.request(op, req) })
    await log.load()
    const listed = await log.list(asNodeId(2), 100)
    expect(listed).toHaveLength(15)
    for (const h of listed) {
      const i = h.versionId[0]!
      expect(h).toMatchObject({ ...hint(i), versionId: hint(i).versionId })
    }
    await stop(w)
    const again = await startWorker(dir)
    expect(await figures(again)).toEqual(before)
    // Nothing left to upgrade.
    expect(await upgradeLegacyHints(dir, SHARDS, 4096, (op, req) => again.request(op, req))).toBeNull()
  })

  it('a crash half-way keeps the old directory; the next start copies again without duplicates', async () => {
    const dir = dataDir()
    const before = await writeLegacy(dir, 40)
    const w = await startWorker(dir)
    let imports = 0
    const crashing: UpgradeRequester = async (op, req) => {
      if (op === 'HINT_IMPORT' && ++imports === 4) throw new Error('killed')
      return await w.request(op, req)
    }
    // Small messages: many chunks, the crash lands after some were stored.
    await expect(upgradeLegacyHints(dir, SHARDS, 2048, crashing)).rejects.toThrow('killed')
    expect(existsSync(join(dir, LEGACY_HINT_DIR))).toBe(true)
    await stop(w) // waits for the imports still running
    const again = await startWorker(dir)
    const partial = [...(await figures(again)).values()].reduce((n, s) => n + s.count, 0)
    expect(partial).toBeGreaterThan(0)
    expect(partial).toBeLessThan(40)
    const report = await upgradeLegacyHints(dir, SHARDS, 2048, (op, req) => again.request(op, req))
    expect(report).toMatchObject({ read: 40, copied: 40 - partial, dropped: 0 })
    expect(await figures(again)).toEqual(before)
    expect(existsSync(join(dir, LEGACY_HINT_DIR))).toBe(false)
  })

  it('deletes a leftover hints.migrated (renamed only once the copy was durable) and drops entries that do not decode', async () => {
    const dir = dataDir()
    mkdirSync(join(dir, `${LEGACY_HINT_DIR}.migrated`))
    const kv = await LevelKv.open(join(dir, LEGACY_HINT_DIR))
    const good = await HintStore.open(kv, { ownsKv: false })
    await good.add([hint(1), hint(2)])
    // A value that does not decode, under a well-formed key.
    await kv.batch([{ type: 'put', key: Uint8Array.of(0x68, 0, 2, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 99), value: Uint8Array.of(9, 9) }], { sync: true })
    await good.close()
    await kv.close()
    const w = await startWorker(dir)
    const report = await upgradeLegacyHints(dir, SHARDS, 4096, (op, req) => w.request(op, req))
    expect(report).toEqual({ copied: 2, read: 3, dropped: 1 })
    expect(existsSync(join(dir, `${LEGACY_HINT_DIR}.migrated`))).toBe(false)
    expect(existsSync(join(dir, LEGACY_HINT_DIR))).toBe(false)
  })
})
