import { describe, expect, it } from 'vitest'
import { assignShards } from '../../../src/node/shard-assignment'

describe('assignShards', () => {
  it('deals shards round-robin by default', () => {
    expect(assignShards(5, 2)).toEqual([[0, 2, 4], [1, 3]])
  })
  it('honours explicit shard → worker pins and deals the rest', () => {
    expect(assignShards(6, 3, { 0: 2, 1: 2 })).toEqual([[2, 5], [3], [0, 1, 4]])
  })
  it('accepts pins keyed by strings, as YAML maps produce', () => {
    expect(assignShards(2, 2, { 1: 0 } as unknown as Record<number, number>)).toEqual([[0, 1], []])
  })
  it('rejects a pin to a worker that does not exist', () => {
    expect(() => assignShards(4, 2, { 3: 5 })).toThrow(/storage\.shard_workers\.3: worker 5 does not exist/)
  })
})
