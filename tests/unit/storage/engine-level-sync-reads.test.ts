import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LevelKv } from '../../../src/storage/kv-level'
import type { KvBatchOptions, KvIterateOptions, KvOp, KvSnapshot, KvStore } from '../../../src/storage/kv'
import { registerEngineCompliance } from './compliance'

// The engine over real LevelDB whose getMany answers on the calling thread (getSync per key), at
// once, instead of through libuv's thread pool: a read then sees exactly the batches that landed
// before it was issued, with no pool latency to hide a read issued too early. The group-commit
// writer must be right under either timing (a synchronous getMany once lost updates when a pass
// read rows a pass two back had not landed yet).
class SyncGetManyKv implements KvStore {
  constructor (private readonly inner: LevelKv) {}
  get (key: Uint8Array): Promise<Uint8Array | undefined> { return this.inner.get(key) }
  getNow (key: Uint8Array): Promise<Uint8Array | undefined> { return this.inner.getNow(key) }
  getMany (keys: readonly Uint8Array[]): Promise<Array<Uint8Array | undefined>> {
    return Promise.all(keys.map(k => this.inner.getNow(k)))
  }

  batch (ops: readonly KvOp[], options: KvBatchOptions): Promise<void> { return this.inner.batch(ops, options) }
  iterate (options: KvIterateOptions): AsyncIterable<[Uint8Array, Uint8Array]> { return this.inner.iterate(options) }
  snapshot (): KvSnapshot { return this.inner.snapshot() }
  close (): Promise<void> { return this.inner.close() }
}

registerEngineCompliance('classic-level, synchronous getMany', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-shard-sync-'))
  return {
    open: async () => new SyncGetManyKv(await LevelKv.open(dir)),
    destroy: async () => rmSync(dir, { recursive: true, force: true })
  }
})
