import { describe, expect, it } from 'vitest'
import { restoreTargetDecision } from '../../../src/backup/restore-rules'

// When scratchbird_restore may write its target (issue 17 item 3).

const manifest = { cluster: 'prod', nodeId: 2 }

describe('restoreTargetDecision', () => {
  it('restores into a missing or empty directory', () => {
    expect(restoreTargetDecision('/d', { entries: 0, identity: null }, manifest, false)).toBe('create')
  })
  it('replaces the same node\'s own data directory without --force (the seeds\' recovery runs)', () => {
    expect(restoreTargetDecision('/d', { entries: 5, identity: { nodeId: 2, cluster: 'prod' } }, manifest, false)).toBe('replace')
  })
  it('refuses another cluster\'s data directory, even with --force', () => {
    for (const force of [false, true]) {
      expect(() => restoreTargetDecision('/d', { entries: 5, identity: { nodeId: 2, cluster: 'test' } }, manifest, force))
        .toThrow(expect.objectContaining({ code: 'SB_BACKUP_REFUSED', message: expect.stringMatching(/cluster "test".*cluster "prod"/) }))
    }
  })
  it('refuses another node\'s directory or unrelated files unless --force', () => {
    for (const identity of [null, { nodeId: 3, cluster: 'prod' }]) {
      expect(() => restoreTargetDecision('/d', { entries: 1, identity }, manifest, false)).toThrow(expect.objectContaining({ code: 'SB_BACKUP_REFUSED' }))
      expect(restoreTargetDecision('/d', { entries: 1, identity }, manifest, true)).toBe('replace')
    }
  })
})
