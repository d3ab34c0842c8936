import { describe, expect, it } from 'vitest'
import { HintStore, type Hint } from '../../../src/storage/hint-store'
import { ERROR_CODES } from '../../../src/core/errors'
import { MemoryKv } from '../../../src/storage/kv-memory'
import { asNodeId, asShardId, asXid } from '../../../src/core/ids'

// Issue 13 item 11: messages about a replica left behind say what really repairs it — a quorum read
// of the key, or an anti-entropy round (issue 15; it runs unless anti_entropy.enabled is false).

function hint (n: number): Hint {
  const versionId = new Uint8Array(16)
  versionId[1] = n
  versionId[6] = 0x80
  return { target: asNodeId(2), shard: asShardId(7), tableId: 1000, key: Uint8Array.of(0x15, n), xid: asXid((2n << 48n) | BigInt(n)), versionId, row: new Uint8Array(10), createdAtMs: 1_767_225_600_000 }
}

describe('messages about a stale replica', () => {
  it('a full hint log says the replica stays stale until a read or an anti-entropy round repairs it', async () => {
    const store = await HintStore.open(MemoryKv.open(), { maxHintsPerTarget: 1 })
    await store.add([hint(1)])
    let message = ''
    try { await store.add([hint(2)]) } catch (e) { message = (e as Error).message }
    expect(message).toMatch(/hint log for node 2 is full/)
    expect(message).toMatch(/stays missing on that replica until a quorum read of the key or an anti-entropy round repairs it/)
    expect(message).not.toMatch(/no anti-entropy/)
    expect(ERROR_CODES.SB_HINT_LOG_FULL.summary).not.toMatch(/no anti-entropy/)
    await store.close()
  })
})
