import { describe, expect, it } from 'vitest'
import { validateConfig } from '../../../src/core/config/load'
import { merkleForestConfig } from '../../../src/node/merkle-sealer'

// The anti_entropy section → the shards' forest windows (what the workers get): off keeps none.

describe('merkleForestConfig', () => {
  it('turns the window keys into milliseconds; enabled: false keeps no forest', () => {
    expect(merkleForestConfig(validateConfig({}).anti_entropy)).toEqual({ windowMs: 3_600_000, graceMs: 600_000 })
    expect(merkleForestConfig(validateConfig({ anti_entropy: { merkle_tree_window_hours: 0.5, sealing_grace_period_minutes: 0 } }).anti_entropy))
      .toEqual({ windowMs: 1_800_000, graceMs: 0 })
    expect(merkleForestConfig(validateConfig({ anti_entropy: { enabled: false, merkle_tree_window_hours: 4 } }).anti_entropy)).toBeNull()
  })
})
