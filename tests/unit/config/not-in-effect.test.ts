import { describe, expect, it } from 'vitest'
import { defaultConfig, describeConfigKeys, validateConfig } from '../../../src/core/config/load'
import { askedNotInEffect, NOT_IN_EFFECT } from '../../../src/core/config/not-in-effect'
import { renderDefaultYaml, renderManPage } from '../../../src/core/config/docs'

describe('keys accepted before their feature exists (not-in-effect.ts)', () => {
  it('name real leaf keys of the schema, once each', () => {
    const keys = new Set(describeConfigKeys().map(k => k.path))
    for (const k of NOT_IN_EFFECT) expect(keys, k.path).toContain(k.path)
    expect(new Set(NOT_IN_EFFECT.map(k => k.path)).size).toBe(NOT_IN_EFFECT.length)
  })

  it('defaults ask for nothing that is not in effect (anti-entropy, enabled by default, now runs)', () => {
    expect(askedNotInEffect(defaultConfig()).map(k => k.path)).toEqual([])
  })

  it('a value other than the default asks for the feature; TLS is in effect (issue 18), so nothing is refused', () => {
    const c = validateConfig({
      replication: { tombstone_gc_grace_days: 20 },
      anti_entropy: { enabled: false, interval_ms: 30000 },
      lsm: { l0_compaction_trigger: 8 },
      security: { tls_enabled: true, tls_cert: '/c', tls_key: '/k', tls_ca: '/ca' }
    })
    const asked = askedNotInEffect(c)
    expect(asked.map(k => k.path)).toEqual(['lsm.l0_compaction_trigger'])
    expect(asked.filter(k => k.refuse === true).map(k => k.path)).toEqual([])
    expect(asked.find(k => k.path === 'lsm.l0_compaction_trigger')?.status).toBe('no_effect')
  })

  it('the anti-entropy keys are in effect (the shards keep the forest, the node runs repair rounds)', () => {
    const c = validateConfig({ anti_entropy: { enabled: true, interval_ms: 5000, merkle_tree_window_hours: 4, sealing_grace_period_minutes: 5 } })
    expect(askedNotInEffect(c).map(k => k.path)).toEqual([])
  })

  it('the replication.default_* keys are in effect (the defaults of new tables), so nothing lists them', () => {
    const c = validateConfig({
      cluster: { nodes: [1, 2, 3].map(id => ({ id, address: `n${id}:5432` })) },
      node: { id: 1 },
      replication: { default_mode: 'leaderless_quorum', default_factor: 3, write_quorum: 2, read_quorum: 2 }
    })
    expect(askedNotInEffect(c).map(k => k.path).filter(p => p.startsWith('replication.'))).toEqual([])
  })

  it('the generated docs mark every such key', () => {
    const yaml = renderDefaultYaml()
    const man = renderManPage()
    expect(yaml.match(/# NOT IN EFFECT YET|# NO EFFECT/g)?.length).toBe(NOT_IN_EFFECT.length)
    expect(man.match(/^NOT IN EFFECT YET|^NO EFFECT/gm)?.length).toBe(NOT_IN_EFFECT.length)
  })
})
