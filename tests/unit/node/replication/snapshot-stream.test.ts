import { describe, expect, it } from 'vitest'
import { ScratchBirdError } from '../../../../src/core/errors'
import { afterChunkFailure } from '../../../../src/node/replication/snapshot-stream'

// The decision after a bootstrap chunk failed (node/replication/snapshot-stream.ts): resume our
// snapshot where the replica says it stands, start a new one, or give the stream up.

describe('afterChunkFailure', () => {
  it('resumes our snapshot after the key the replica installed last (a reply lost on the way)', () => {
    const e = new ScratchBirdError('SB_REPL_SNAPSHOT_MISMATCH', 'x', { expected_snapshot_id: '42', expected_after: '0a0b' })
    expect(afterChunkFailure(e, 42n)).toEqual({ action: 'resume', after: Uint8Array.of(0x0a, 0x0b) })
  })

  it('starts a new snapshot when the replica installs another one, names no key, or the source lost ours', () => {
    expect(afterChunkFailure(new ScratchBirdError('SB_REPL_SNAPSHOT_MISMATCH', 'x', { expected_snapshot_id: '7', expected_after: '0a' }), 42n)).toEqual({ action: 'restart' })
    expect(afterChunkFailure(new ScratchBirdError('SB_REPL_SNAPSHOT_MISMATCH', 'x', { expected_snapshot_id: '42', expected_after: null }), 42n)).toEqual({ action: 'restart' })
    expect(afterChunkFailure(new ScratchBirdError('SB_REPL_SNAPSHOT_MISMATCH', 'x', { expected_snapshot_id: '42', expected_after: 'zz' }), 42n)).toEqual({ action: 'restart' })
    expect(afterChunkFailure(new ScratchBirdError('SB_REPL_SNAPSHOT_GONE', 'x', {}), 42n)).toEqual({ action: 'restart' })
  })

  it('gives up on anything else (unreachable, refused by fencing): the machine offers again', () => {
    expect(afterChunkFailure(new ScratchBirdError('SB_NODE_UNREACHABLE', 'x', {}), 42n)).toEqual({ action: 'give-up' })
    expect(afterChunkFailure(new ScratchBirdError('SB_REPL_SNAPSHOT_REFUSED', 'x', {}), 42n)).toEqual({ action: 'give-up' })
    expect(afterChunkFailure(new Error('boom'), 42n)).toEqual({ action: 'give-up' })
  })
})
