import { describe, expect, it } from 'vitest'
import { describeConfigKeys, loadConfig } from '../../../src/core/config/load'
import { applyLive, planReload } from '../../../src/core/config/reload'

// Issue 13 item 8: SIGHUP tells the truth about what it changed.

describe('SIGHUP reload plan', () => {
  it('the live keys are exactly those read at every use (the table in the schema)', () => {
    expect(describeConfigKeys().filter(k => k.reload === 'live').map(k => k.path)).toEqual([
      'node.max_requests_in_flight_per_client',
      'node.max_requests_per_second_per_client',
      'node.request_burst_per_client',
      'node.shutdown_timeout_ms',
      'node.temp_table_bytes_per_session',
      'replication.write_timeout_ms',
      'replication.read_timeout_ms',
      'replication.hint_expiration_days',
      'replication.hint_delivery_interval_ms',
      'replication.hint_delivery_rate',
      'security.login_failures_max',
      'security.login_lockout_ms',
      'security.pg_password',
      'logging.level',
      'logging.slow_query_ms'
    ])
  })

  it('an unchanged file changes nothing', () => {
    const text = 'storage: {shards: 8}\nlogging: {level: DEBUG}\n'
    expect(planReload(loadConfig({ text }), loadConfig({ text }))).toEqual({ live: [], restart: [] })
  })

  it('splits the changed keys into live ones and ones that need a restart', () => {
    const running = loadConfig({ text: 'storage: {shards: 8}\n' })
    const next = loadConfig({ text: 'storage: {shards: 16}\nlogging: {level: debug, slow_query_ms: 0}\nreplication: {write_timeout_ms: 9000}\ngossip: {fanout: 5}\ncluster: {nodes: [{id: 1, address: "a:1"}]}\n' })
    const plan = planReload(running, next)
    expect(plan.live).toEqual([
      { path: 'replication.write_timeout_ms', running: 5000, file: 9000 },
      { path: 'logging.level', running: 'INFO', file: 'DEBUG' },
      { path: 'logging.slow_query_ms', running: 1000, file: 0 }
    ])
    expect(plan.restart).toEqual([
      { path: 'storage.shards', running: 8, file: 16 },
      { path: 'cluster.nodes', running: [], file: [{ id: 1, address: 'a:1', datacenter: 'dc1' }] },
      { path: 'gossip.fanout', running: 3, file: 5 }
    ])
  })

  it('applies the live changes in place (components hold the one Config object) and leaves the rest running', () => {
    const running = loadConfig({ text: 'storage: {shards: 8}\n' })
    const logging = running.logging
    const replication = running.replication
    const next = loadConfig({ text: 'storage: {shards: 16}\nlogging: {level: ERROR, slow_query_ms: 5}\nreplication: {read_timeout_ms: 100}\n' })
    applyLive(running, planReload(running, next).live)
    expect(running.logging).toBe(logging)
    expect(running.replication).toBe(replication)
    expect(running.logging).toMatchObject({ level: 'ERROR', slow_query_ms: 5 })
    expect(running.replication.read_timeout_ms).toBe(100)
    expect(running.storage.shards).toBe(8)
    expect(planReload(running, next).live).toEqual([])
  })
})
