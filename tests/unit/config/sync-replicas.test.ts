import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../../src/core/config/load'
import { askedNotInEffect } from '../../../src/core/config/not-in-effect'
import { ScratchBirdError } from '../../../src/core/errors'

// replication.sync_replicas (issue 14 item 1): 'majority' or an integer ≥ 0, in effect: the Mode 1
// groups (node/replication/) acknowledge commits by it.

function problem (text: string): string[] {
  try {
    loadConfig({ text })
  } catch (e) {
    expect(e).toBeInstanceOf(ScratchBirdError)
    expect((e as ScratchBirdError).code).toBe('SB_CONFIG_INVALID')
    return (e as ScratchBirdError).details.problems as string[]
  }
  throw new Error('expected loadConfig to throw')
}

describe('replication.sync_replicas', () => {
  it('defaults to majority and takes majority, 0 or a count', () => {
    expect(loadConfig({ text: '' }).replication.sync_replicas).toBe('majority')
    expect(loadConfig({ text: 'replication: {sync_replicas: 0}' }).replication.sync_replicas).toBe(0)
    expect(loadConfig({ text: 'replication: {sync_replicas: 2}' }).replication.sync_replicas).toBe(2)
    expect(loadConfig({ text: 'replication: {sync_replicas: majority}' }).replication.sync_replicas).toBe('majority')
  })

  it('refuses other values with the key path', () => {
    for (const v of ['-1', '1.5', 'all', 'true']) {
      expect(problem(`replication: {sync_replicas: ${v}}`)).toEqual([expect.stringMatching(/^replication\.sync_replicas: /)])
    }
  })

  it('is in effect (not listed as not in effect, whatever the value)', () => {
    expect(askedNotInEffect(loadConfig({ text: '' })).map(k => k.path)).not.toContain('replication.sync_replicas')
    expect(askedNotInEffect(loadConfig({ text: 'replication: {sync_replicas: 0}' })).map(k => k.path)).not.toContain('replication.sync_replicas')
  })
})
