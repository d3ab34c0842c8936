import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { defaultConfig, loadConfig, type LoadConfigOptions } from '../../../src/core/config/load'
import { ScratchBirdError } from '../../../src/core/errors'
import { askedNotInEffect } from '../../../src/core/config/not-in-effect'

const fixture = (name: string) => resolve(import.meta.dirname, '../../fixtures/config', name)
const repoFile = (name: string) => resolve(import.meta.dirname, '../../..', name)
/** A seed file with the default_factor this release can serve under primary_replica (1, not the seed's 2). */
const servableSeed = (name: string): string => readFileSync(fixture(name), 'utf8').replace('default_factor: 2\n', 'default_factor: 1\n')

/** The ScratchBirdError loadConfig throws (fails the test when it does not throw one). */
function failure (options: LoadConfigOptions): ScratchBirdError {
  try {
    loadConfig(options)
  } catch (e) {
    expect(e).toBeInstanceOf(ScratchBirdError)
    return e as ScratchBirdError
  }
  throw new Error('expected loadConfig to throw')
}

function problems (text: string, overrides?: LoadConfigOptions['overrides']): string[] {
  const e = failure({ text, overrides })
  expect(e.code).toBe('SB_CONFIG_INVALID')
  return e.details.problems as string[]
}

describe('loading valid files', () => {
  it('loads the seed cluster.yaml as written: default_factor 2 under primary_replica is in effect (Mode 1 replication, issue 14)', () => {
    const seed = loadConfig({ text: readFileSync(fixture('seed-cluster.yaml'), 'utf8') })
    expect(seed.replication).toMatchObject({ default_mode: 'primary_replica', default_factor: 2 })
    expect(askedNotInEffect(seed).map(k => k.path)).not.toContain('replication.default_factor')
    expect(askedNotInEffect(loadConfig({ text: servableSeed('seed-cluster.yaml') })).map(k => k.path)).not.toContain('replication.default_factor')
    // A leaderless default may keep copies; the table defaults then take them.
    const two = 'cluster: {nodes: [{id: 1, address: "a:1"}, {id: 2, address: "b:1"}]}\n'
    expect(loadConfig({ text: `${two}replication: {default_mode: leaderless_quorum, default_factor: 2}` }).replication).toMatchObject({ default_mode: 'leaderless_quorum', default_factor: 2 })
    // …but not more copies than there are members to hold them.
    expect(problems('replication: {default_mode: leaderless_quorum, default_factor: 2}')).toEqual([
      'replication.default_factor: expected an integer ≤ the 1 configured member of the cluster (cluster.nodes; a node alone is one): a table keeps each replica on a different node, got 2'
    ])
    expect(problems(`${two}replication: {default_mode: leaderless_quorum, default_factor: 3}`)).toEqual([expect.stringMatching(/^replication\.default_factor: expected an integer ≤ the 2 configured members/)])
  })

  it('loads the seed cluster.yaml with the default_factor this release serves', () => {
    const c = loadConfig({ text: servableSeed('seed-cluster.yaml') })
    expect(c.cluster.name).toBe('scratchbird_prod')
    expect(c.cluster.nodes).toEqual([
      { id: 1, address: 'node1.scratchbird.local:5432', datacenter: 'us-east-1a' },
      { id: 2, address: 'node2.scratchbird.local:5432', datacenter: 'us-east-1b' },
      { id: 3, address: 'node3.scratchbird.local:5432', datacenter: 'us-east-1c' }
    ])
    expect(c.replication).toMatchObject({ default_mode: 'primary_replica', default_factor: 1, write_timeout_ms: 5000, read_timeout_ms: 3000, hint_expiration_days: 7 })
    expect(c.anti_entropy).toMatchObject({ interval_ms: 60000, merkle_tree_window_hours: 1, sealing_grace_period_minutes: 10 })
    expect(c.gossip).toEqual({ interval_ms: 10000, fanout: 5, heartbeat_timeout_ms: 30000 })
    // Keys the seed leaves out keep their defaults; node.datacenter follows this node's entry.
    expect(c.node).toEqual({ ...defaultConfig().node, datacenter: 'us-east-1a' })
  })

  it('takes node.datacenter from this node\'s cluster.nodes entry; cluster.nodes[].datacenter defaults to dc1', () => {
    const members = 'cluster: {nodes: [{id: 1, address: "a:1", datacenter: east}, {id: 2, address: "b:1"}]}'
    expect(loadConfig({ text: `node: {id: 1}\n${members}` }).node.datacenter).toBe('east')
    expect(loadConfig({ text: `node: {id: 2}\n${members}` }).node.datacenter).toBe('dc1')
    expect(loadConfig({ text: `node: {id: 1, datacenter: east}\n${members}` }).node.datacenter).toBe('east')
    expect(loadConfig({ text: `node: {id: 2}\n${members}` }).cluster.nodes[1]!.datacenter).toBe('dc1')
    expect(loadConfig({ text: 'node: {datacenter: west}' }).node.datacenter).toBe('west')
    expect(defaultConfig().node.datacenter).toBe('dc1')
  })

  it('loads the seed file with its tuning, TLS and audit snippets (TLS is in effect: nothing refused)', () => {
    const asIs = loadConfig({ file: fixture('seed-tuned.yaml') })
    expect(asIs.replication).toMatchObject({ default_mode: 'primary_replica', default_factor: 2, write_quorum: 2, read_quorum: 1 })
    expect(askedNotInEffect(asIs).filter(k => k.refuse === true).map(k => k.path)).toEqual([])
    const c = loadConfig({ text: readFileSync(fixture('seed-tuned.yaml'), 'utf8').replace('default_mode: primary_replica', 'default_mode: leaderless_quorum') })
    expect(c.replication).toMatchObject({ default_mode: 'leaderless_quorum', default_factor: 2, write_quorum: 2, read_quorum: 1 })
    expect(c.anti_entropy).toMatchObject({ interval_ms: 120000, merkle_tree_window_hours: 4 })
    expect(c.lsm).toMatchObject({ l0_compaction_trigger: 4, max_bytes_for_level_base: 268435456 })
    expect(c.security).toEqual({
      tls_enabled: true,
      tls_cert: '/etc/scratchbird/certs/node.crt',
      tls_key: '/etc/scratchbird/certs/node.key',
      tls_ca: '/etc/scratchbird/certs/ca.crt',
      auth: 'scram',
      login_failures_max: 10,
      login_lockout_ms: 60000
    })
    expect(c.audit).toEqual({
      enabled: true,
      log_file: '/var/log/scratchbird/audit.log',
      events: ['CREATE TABLE', 'ALTER TABLE', 'DROP TABLE', 'SET replication_mode', 'GRANT', 'REVOKE']
    })
  })

  it('gives the defaults for an empty document, a comment-only file, no file and `{}`', () => {
    const d = defaultConfig()
    expect(loadConfig({ text: '' })).toEqual(d)
    expect(loadConfig({ text: '# nothing here\n' })).toEqual(d)
    expect(loadConfig({ text: '{}' })).toEqual(d)
    expect(loadConfig()).toEqual(d)
    expect(d.node).toMatchObject({ id: 1, listen: '127.0.0.1:8080', metrics_listen: '127.0.0.1:9090', durability: 'sync' })
    expect(d.storage).toMatchObject({ shards: 16, workers: 'auto', ring_bytes: 4 * 1024 * 1024, shard_workers: {} })
    expect(d.gossip).toEqual({ interval_ms: 1000, fanout: 3, heartbeat_timeout_ms: 30000 })
  })

  it('treats a section whose keys are all commented out as empty', () => {
    expect(loadConfig({ text: 'gossip:\n  # fanout: 5\nnode:\n' })).toEqual(defaultConfig())
  })

  it('loads etc/scratchbird.yaml to exactly the defaults', () => {
    expect(loadConfig({ file: repoFile('etc/scratchbird.yaml') })).toEqual(defaultConfig())
  })

  it('resolves relative paths against cwd and log files against logging.dir', () => {
    const c = loadConfig({
      cwd: '/srv/sb',
      text: 'node: {data_dir: d}\nlogging: {dir: logs, files: {slow_query: /var/log/slow.log}}\nsecurity: {tls_cert: c.pem}\n'
    })
    expect(c.node.data_dir).toBe('/srv/sb/d')
    expect(c.logging.dir).toBe('/srv/sb/logs')
    expect(c.logging.files.main).toBe('/srv/sb/logs/scratchbird.log')
    expect(c.logging.files.slow_query).toBe('/var/log/slow.log')
    expect(c.security.tls_cert).toBe('/srv/sb/c.pem')
    // audit.log_file follows logging unless given.
    expect(c.audit.log_file).toBe('/srv/sb/logs/audit.log')
    expect(defaultConfig('/x').audit.log_file).toBe('/x/data/logs/audit.log')
  })

  it('normalises logging.level to upper case', () => {
    expect(loadConfig({ text: 'logging: {level: debug}' }).logging.level).toBe('DEBUG')
    expect(loadConfig({ text: 'logging: {level: Warning}' }).logging.level).toBe('WARNING')
  })

  it('accepts workers as a number with a matching shard_workers map', () => {
    const c = loadConfig({ text: 'storage:\n  workers: 2\n  shards: 8\n  shard_workers: {0: 0, 5: 1}\n' })
    expect(c.storage.workers).toBe(2)
    expect(c.storage.shard_workers).toEqual({ 0: 0, 5: 1 })
  })

  it('accepts IPv6 and host-name listen addresses and port 0', () => {
    const c = loadConfig({ text: 'node: {listen: "[::1]:0", metrics_listen: "metrics.local:9100"}' })
    expect(c.node.listen).toBe('[::1]:0')
  })
})

describe('reporting problems', () => {
  it('reports a wrong type with the key path, what was expected and what was found', () => {
    expect(problems('gossip:\n  fanout: lots\n')).toEqual(['gossip.fanout: expected an integer ≥ 1, got "lots"'])
    expect(problems('storage:\n  sweep_schedule: lots\n')).toEqual(['storage.sweep_schedule: expected a cron expression (5 fields, or 6 with seconds first), got "lots"'])
  })

  it('lists every problem of a file at once', () => {
    const e = failure({ file: fixture('many-problems.yaml') })
    expect(e.code).toBe('SB_CONFIG_INVALID')
    expect(e.details.file).toBe(fixture('many-problems.yaml'))
    expect(e.details.problems).toEqual([
      'node.id: expected an integer between 1 and 65535, got 70000',
      'node.listen: expected a HOST:PORT address (host name, IPv4 or [IPv6], port 0 to 65535), got "localhost"',
      'node.durability: expected one of "sync", "none", got "fast"',
      'storage.ring_bytes: expected a power of two between 65536 and 1073741824, got 1000',
      'cluster.nodes[1].id: expected an integer between 1 and 65535, got 0',
      'gossip.fanout: expected an integer ≥ 1, got "lots"',
      'gossip.fanuot: unknown key (expected one of interval_ms, fanout, heartbeat_timeout_ms)',
      'security.tls_cert: expected a file path because security.tls_enabled is true, got nothing',
      'logging.level: expected one of "ERROR", "WARNING", "INFO", "DEBUG", got "chatty"',
      'bogus_section: unknown key (expected one of node, storage, cluster, replication, anti_entropy, gossip, security, audit, lsm, logging, http, tracing)'
    ])
    expect(e.message).toContain('10 problems')
    expect(e.message).toContain('gossip.fanout: expected an integer ≥ 1, got "lots"')
  })

  it('names unknown keys at the top level, in sections, nested objects and list items', () => {
    expect(problems('gosip: {}\nlogging:\n  files:\n    mian: x.log\ncluster:\n  nodes:\n    - {id: 1, address: "a:1", dc: x}\n')).toEqual([
      'cluster.nodes[0].dc: unknown key (expected one of id, address, datacenter)',
      'logging.files.mian: unknown key (expected one of main, replication, anti_entropy, slow_query, audit)',
      'gosip: unknown key (expected one of node, storage, cluster, replication, anti_entropy, gossip, security, audit, lsm, logging, http, tracing)'
    ])
  })

  it('reports out-of-range numbers with their range', () => {
    expect(problems('storage: {shards: 0}\nnode: {max_clock_offset_ms: 0}\nreplication: {hint_expiration_days: 0}')).toEqual([
      'node.max_clock_offset_ms: expected an integer ≥ 1, got 0',
      'storage.shards: expected an integer between 1 and 4096, got 0',
      'replication.hint_expiration_days: expected a number > 0, got 0'
    ])
    expect(problems('storage: {shards: 4097}')).toEqual(['storage.shards: expected an integer between 1 and 4096, got 4097'])
    expect(problems('gossip: {interval_ms: 1.5}')).toEqual(['gossip.interval_ms: expected a whole number of milliseconds between 1 and 2147483647, got 1.5'])
    expect(problems('node: {id: 9007199254740993}')).toEqual(['node.id: expected an integer between 1 and 65535, got 9007199254740992'])
  })

  it('lists the allowed values of enums, unions and booleans', () => {
    expect(problems('replication: {default_mode: quorum}')).toEqual(['replication.default_mode: expected one of "primary_replica", "leaderless_quorum", got "quorum"'])
    expect(problems('storage: {workers: many}')).toEqual(['storage.workers: expected an integer between 1 and 1024 or "auto", got "many"'])
    expect(problems('anti_entropy: {enabled: "yes"}')).toEqual(['anti_entropy.enabled: expected true or false, got "yes"'])
    expect(problems('logging: {console: loud}')).toEqual(['logging.console: expected one of "auto", "pretty", "json", "off", got "loud"'])
    expect(problems('audit: {events: [GRANT, DELETE]}')).toEqual([
      'audit.events[1]: expected one of "CREATE TABLE", "ALTER TABLE", "DROP TABLE", "SET replication_mode", "SET replication_factor", "SET write_quorum", "SET read_quorum", "SET uuid_type", "SET partition_key_columns", "GRANT", "REVOKE", "CREATE USER", "ALTER USER", "DROP USER", "CREATE TOKEN", "DROP TOKEN", "TOPOLOGY", "LOGIN", got "DELETE"'
    ])
  })

  it('reports wrong shapes: a section that is not a mapping, a list that is not a list, a null leaf', () => {
    expect(problems('gossip: 5')).toEqual(['gossip: expected a mapping, got 5'])
    expect(problems('cluster: {nodes: node1}')).toEqual(['cluster.nodes: expected a list of cluster members, got "node1"'])
    expect(problems('cluster: {nodes: [5]}')).toEqual(['cluster.nodes[0]: expected a cluster member (a mapping with id, address and datacenter), got 5'])
    expect(problems('gossip:\n  fanout:\n')).toEqual(['gossip.fanout: expected an integer ≥ 1, got null'])
    expect(problems('- a\n- b\n')).toEqual(['(top level): expected a mapping, got ["a","b"]'])
  })

  it('reports missing required fields of list items', () => {
    expect(problems('cluster:\n  nodes:\n    - {id: 1}\n')).toEqual(['cluster.nodes[0].address: expected a HOST:PORT address (host name, IPv4 or [IPv6], port 1 to 65535), got nothing'])
  })

  it('names security.tls_cert when TLS is on without a certificate', () => {
    expect(problems('security:\n  tls_enabled: true\n  tls_key: /k\n  tls_ca: /ca\n')).toEqual([
      'security.tls_cert: expected a file path because security.tls_enabled is true, got nothing'
    ])
  })

  it('checks the other cross-field rules at the offending key', () => {
    expect(problems('gossip: {interval_ms: 40000}')).toEqual(['gossip.heartbeat_timeout_ms: expected an integer > gossip.interval_ms (40000), got the default 30000'])
    expect(problems('replication: {hint_expiration_days: 10}')).toEqual(['replication.tombstone_gc_grace_days: expected a number > replication.hint_expiration_days (10), got the default 10'])
    expect(problems('replication: {default_mode: leaderless_quorum, write_quorum: 3, default_factor: 2}')).toEqual(['replication.write_quorum: expected an integer ≤ replication.default_factor (2), got 3'])
    expect(problems('storage: {max_message_bytes: 2097152}')).toEqual(['storage.max_message_bytes: expected an integer ≤ storage.ring_bytes / 4 (1048576), got 2097152'])
    expect(problems('storage: {shards: 4, workers: 2, shard_workers: {7: 0, 1: 2, x: 0}}')).toEqual([
      'storage.shard_workers.x: expected a shard id (a whole number) as the key, got "x"'
    ])
    expect(problems('storage: {shards: 4, workers: 2, shard_workers: {7: 0, 1: 2}}')).toEqual([
      'storage.shard_workers.1: expected a worker index below storage.workers (2), got 2',
      'storage.shard_workers.7: expected a shard id below storage.shards (4), got 7'
    ])
    expect(problems('cluster: {nodes: [{id: 1, address: "a:1"}, {id: 1, address: "a:1"}]}')).toEqual([
      'cluster.nodes[1].id: expected an id not used by cluster.nodes[0], got 1',
      'cluster.nodes[1].address: expected an address not used by cluster.nodes[0], got "a:1"'
    ])
    expect(problems('node: {id: 4}\ncluster: {nodes: [{id: 1, address: "a:1"}, {id: 2, address: "b:1"}]}')).toEqual([
      'node.id: expected the id of one of cluster.nodes (1, 2), got 4'
    ])
  })

  it('has storage.txn_idle_timeout_ms: 10 minutes by default, at least 1 s, above http.session_idle_timeout_ms', () => {
    expect(defaultConfig().storage.txn_idle_timeout_ms).toBe(600000)
    expect(defaultConfig().storage.txn_idle_timeout_ms).toBeGreaterThan(defaultConfig().http.session_idle_timeout_ms)
    expect(loadConfig({ text: 'storage: {txn_idle_timeout_ms: 2000}\nhttp: {session_idle_timeout_ms: 1000}' }).storage.txn_idle_timeout_ms).toBe(2000)
    expect(problems('storage: {txn_idle_timeout_ms: 999}\nhttp: {session_idle_timeout_ms: 500}')).toEqual([
      'storage.txn_idle_timeout_ms: expected a whole number of milliseconds between 1000 and 2147483647, got 999'
    ])
    expect(problems('storage: {txn_idle_timeout_ms: 300000}')).toEqual([
      'storage.txn_idle_timeout_ms: expected an integer > http.session_idle_timeout_ms (300000), got 300000'
    ])
    expect(problems('http: {session_idle_timeout_ms: 900000}')).toEqual([
      'storage.txn_idle_timeout_ms: expected an integer > http.session_idle_timeout_ms (900000), got the default 600000'
    ])
    // A bad session timeout is reported once, as itself; the cross-check waits for a valid one.
    expect(problems('http: {session_idle_timeout_ms: 0}')).toEqual([
      'http.session_idle_timeout_ms: expected a whole number of milliseconds between 1 and 2147483647, got 0'
    ])
  })

  it('refuses a node.datacenter that differs from this node\'s cluster.nodes entry (placement reads the entry)', () => {
    expect(problems('node: {id: 2, datacenter: us-east-1a}\ncluster: {nodes: [{id: 1, address: "a:1", datacenter: us-east-1a}, {id: 2, address: "b:1", datacenter: us-east-1b}]}'))
      .toEqual(['node.datacenter: expected "us-east-1b", the datacenter of this node\'s entry cluster.nodes[1], or nothing, got "us-east-1a"'])
    expect(problems('node: {id: 2, datacenter: west}\ncluster: {nodes: [{id: 1, address: "a:1"}, {id: 2, address: "b:1"}]}'))
      .toEqual(['node.datacenter: expected "dc1", the datacenter of this node\'s entry cluster.nodes[1] (its default: set cluster.nodes[].datacenter for every member), or nothing, got "west"'])
  })

  it('still runs the cross-checks of sections that have unrelated problems', () => {
    expect(problems('gossip: {interval_ms: 40000, fanout: 0}\nstorage: {shards: x}')).toEqual([
      'storage.shards: expected an integer between 1 and 4096, got "x"',
      'gossip.fanout: expected an integer ≥ 1, got 0',
      'gossip.heartbeat_timeout_ms: expected an integer > gossip.interval_ms (40000), got the default 30000'
    ])
  })

  it('shortens long values', () => {
    const [line] = problems(`node: {datacenter: [${'x, '.repeat(100)}x]}`)
    expect(line!.length).toBeLessThan(200)
    expect(line).toMatch(/…$/)
  })
})

describe('command-line overrides', () => {
  it('override the file and are validated like it', () => {
    const c = loadConfig({ text: servableSeed('seed-cluster.yaml'), overrides: { data_dir: '/tmp/sb', listen: '0.0.0.0:5432', node_id: '2', metrics_listen: '127.0.0.1:0' } })
    expect(c.node).toMatchObject({ data_dir: '/tmp/sb', listen: '0.0.0.0:5432', id: 2, metrics_listen: '127.0.0.1:0' })
  })

  it('report a bad --listen as node.listen', () => {
    expect(problems('', { listen: 'not an address' })).toEqual([
      'node.listen: expected a HOST:PORT address (host name, IPv4 or [IPv6], port 0 to 65535), got "not an address" (from the command line)'
    ])
    expect(problems('', { node_id: 'seven' })).toEqual(['node.id: expected an integer between 1 and 65535, got "seven" (from the command line)'])
  })

  it('are checked against cluster membership too', () => {
    expect(problems('cluster: {nodes: [{id: 1, address: "a:1"}]}', { node_id: 9 })).toEqual([
      'node.id: expected the id of one of cluster.nodes (1), got 9 (from the command line)'
    ])
  })

  it('reject unknown override names', () => {
    const e = failure({ text: '', overrides: { port: 1 } as never })
    expect(e.code).toBe('SB_BAD_ARGUMENT')
  })
})

describe('unreadable files', () => {
  it('reports a YAML syntax error with its line and column', () => {
    const e = failure({ file: fixture('syntax-error.yaml') })
    expect(e.code).toBe('SB_CONFIG_UNREADABLE')
    expect(e.details).toMatchObject({ file: fixture('syntax-error.yaml'), line: 5 })
    expect(e.details.column).toEqual(expect.any(Number))
    expect(e.message).toContain('line 5')
  })

  it('reports duplicate keys as a syntax error', () => {
    const e = failure({ text: 'gossip:\n  fanout: 3\n  fanout: 4\n' })
    expect(e.code).toBe('SB_CONFIG_UNREADABLE')
    expect(e.details.line).toBe(3)
  })

  it('reports a missing file', () => {
    const e = failure({ file: fixture('no-such-file.yaml') })
    expect(e.code).toBe('SB_CONFIG_UNREADABLE')
    expect(e.details).toMatchObject({ file: fixture('no-such-file.yaml'), reason: 'ENOENT' })
  })

  it('refuses alias bombs instead of expanding them', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]']
    for (let i = 0; i < 8; i++) bomb.push(`${'b'.repeat(i + 1)}: &${'b'.repeat(i + 1)} [${Array(10).fill(`*${i === 0 ? 'a' : 'b'.repeat(i)}`).join(', ')}]`)
    const e = failure({ text: bomb.join('\n') })
    expect(e.code).toBe('SB_CONFIG_UNREADABLE')
  })
})

describe('etc/cluster-demo', () => {
  it('loads the three demo configs: same members and secret, distinct ids, ports and data dirs', () => {
    const configs = [1, 2, 3].map(i => loadConfig({ file: resolve(import.meta.dirname, `../../../etc/cluster-demo/node${i}.yaml`), cwd: '/repo' }))
    expect(configs.map(c => c.node.id)).toEqual([1, 2, 3])
    expect(new Set(configs.map(c => c.node.listen)).size).toBe(3)
    // three nodes on one host: three PostgreSQL ports too (the default 5432 would be taken twice)
    expect(configs.map(c => c.node.pg_listen)).toEqual(['127.0.0.1:5432', '127.0.0.1:5433', '127.0.0.1:5434'])
    expect(new Set(configs.map(c => c.node.data_dir)).size).toBe(3)
    for (const c of configs) {
      expect(c.cluster.nodes).toEqual(configs[0]!.cluster.nodes)
      expect(c.security.cluster_secret).toBe(configs[0]!.security.cluster_secret)
      expect(c.cluster.nodes.find(n => n.id === c.node.id)?.address).toBe(c.node.listen)
    }
  })
})
