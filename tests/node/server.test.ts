import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { NODE_EXAMPLE, SEED_CLUSTER_EXAMPLE } from '../../src/core/config/docs'
import { HintStore } from '../../src/storage/hint-store'
import { LevelKv } from '../../src/storage/kv-level'
import { ROOT, runToExit, sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'
import { TestCa } from '../helpers/tls-certs'
import { asNodeId, asShardId, asXid } from '../../src/core/ids'

// The server skeleton as a real process: start, health, metrics, log files, SIGHUP, clean stop,
// refusal of a second node on the same data directory.

const running: RunningNode[] = []
afterEach(() => { for (const n of running.splice(0)) n.proc.kill('SIGKILL') })

function nodeArgs (dataDir: string, extra: string[] = []): string[] {
  return ['--config', join(ROOT, 'etc/scratchbird.yaml'), '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', ...extra]
}

async function start (dataDir: string, extra: string[] = []): Promise<RunningNode> {
  const [cmd, args] = sourceCommand(nodeArgs(dataDir, extra))
  const n = await startNode(cmd, args)
  running.push(n)
  return n
}

describe('scratchbird server', () => {
  it('starts workers that open LevelDB shards, serves /v1/health and /metrics, stops cleanly on SIGTERM', async () => {
    const dir = tempDir()
    const n = await start(join(dir, 'data'), ['--node-id', '7'])
    const health = await (await fetch(n.url('/v1/health'))).json() as Record<string, unknown>
    expect(health).toMatchObject({ nodeId: 7, state: 'ready', shardsOpen: 16 })
    expect(typeof health.version).toBe('string')
    expect(typeof health.uptimeMs).toBe('number')
    // every shard is a real LevelDB database in its own directory
    const shards = readdirSync(join(dir, 'data', 'shards')).map(Number).sort((a, b) => a - b)
    expect(shards).toEqual([...Array(16).keys()])
    for (const s of shards) expect(existsSync(join(dir, 'data', 'shards', String(s), 'CURRENT'))).toBe(true)

    const metrics = await (await fetch(`http://${n.metrics}/metrics`)).text()
    expect(metrics).toMatch(/scratchbird_build_info\{version="[^"]+",node_id="7"\} 1/)
    expect(metrics).toContain('scratchbird_shards_open 16')

    const missing = await fetch(n.url('/v1/nope'))
    expect(missing.status).toBe(404)
    expect(await missing.json()).toMatchObject({ error: { code: 'SB_NOT_FOUND' } })

    n.proc.kill('SIGTERM')
    expect(await n.exited).toBe(0)
    expect(n.stdout()).toMatch(/"msg":"stopped"/)
    expect(existsSync(join(dir, 'data', 'scratchbird.pid'))).toBe(false)
    // JSON log file holds the same story
    const mainLog = readFileSync(join(dir, 'data', 'logs', 'scratchbird.log'), 'utf8')
    expect(mainLog).toMatch(/"level":"INFO".*"msg":"ready: node 7/)
    expect(mainLog).toMatch(/"msg":"stopped"/)
  })

  it('copies a previous release\'s <data_dir>/hints into the shard stores at start and deletes it (the main thread opens no LevelDB)', async () => {
    const dir = tempDir()
    const data = join(dir, 'data')
    // The previous release's hint log: its own LevelDB, written by its HintStore.
    const legacy = await HintStore.open(await LevelKv.open(join(data, 'hints')))
    await legacy.add([0, 5, 15].map(s => asShardId(s)).map(shard => ({ target: asNodeId(2), shard, tableId: 1, key: Uint8Array.of(0x31, shard), xid: asXid(1n), versionId: new Uint8Array(16).fill(shard), row: null, createdAtMs: 1_700_000_000_000 })))
    await legacy.close()
    const n = await start(data, ['--node-id', '7'])
    expect(n.stdout()).toMatch(/hint log upgraded: 3 of 3 hint\(s\) from [^"]*hints copied into the shard stores/)
    expect(existsSync(join(data, 'hints'))).toBe(false)
    expect(existsSync(join(data, 'hints.migrated'))).toBe(false)
    n.proc.kill('SIGTERM')
    expect(await n.exited).toBe(0)
  })

  it('refuses a second node on the same data directory and leaves the first one running', async () => {
    const dir = join(tempDir(), 'data')
    const first = await start(dir)
    const [cmd, args] = sourceCommand(nodeArgs(dir))
    const second = await runToExit(cmd, args)
    expect(second.code).not.toBe(0)
    expect(second.stderr).toMatch(/in use by another ScratchBird process \(pid \d+\)/)
    expect(second.stderr).toContain('SB_DATA_DIR_LOCKED')
    const health = await (await fetch(first.url('/v1/health'))).json() as Record<string, unknown>
    expect(health.state).toBe('ready')
    first.proc.kill('SIGINT')
    expect(await first.exited).toBe(0)
  })

  it('fails to start with a clear error when its address is taken, and releases the data directory', async () => {
    const dir = join(tempDir(), 'data')
    const first = await start(join(tempDir(), 'data'))
    const [cmd, args] = sourceCommand(['--data-dir', dir, '--listen', first.listen, '--metrics-listen', '127.0.0.1:0'])
    const r = await runToExit(cmd, args)
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/cannot listen: .*EADDRINUSE.*\[SB_BAD_ARGUMENT\]/)
    expect(existsSync(join(dir, 'scratchbird.pid'))).toBe(false)
    first.proc.kill('SIGTERM')
    expect(await first.exited).toBe(0)
  })

  it('takes over a stale lock left by a process that died', async () => {
    const dir = join(tempDir(), 'data')
    const first = await start(dir)
    first.proc.kill('SIGKILL')
    await first.exited
    expect(existsSync(join(dir, 'scratchbird.pid'))).toBe(true)
    const again = await start(dir)
    again.proc.kill('SIGTERM')
    expect(await again.exited).toBe(0)
  })

  it('SIGHUP applies live keys at once, names each changed key that needs a restart, and keeps everything when the file is invalid', async () => {
    const dir = tempDir()
    const cfg = join(dir, 'node.yaml')
    writeFileSync(cfg, 'logging:\n  level: INFO\n  slow_query_ms: 600000\n')
    const [cmd, args] = sourceCommand(['--config', cfg, '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'])
    const n = await startNode(cmd, args)
    running.push(n)
    const sql = async (text: string): Promise<number> => (await fetch(n.url('/v1/sql'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql: text }) })).status
    expect(await sql("SELECT 'before reload'")).toBe(200)

    // Live: level and slow_query_ms. Restart: http.max_body_bytes (the HTTP server read it at start).
    writeFileSync(cfg, 'logging:\n  level: DEBUG\n  slow_query_ms: 0\nhttp:\n  max_body_bytes: 2048\n')
    n.proc.kill('SIGHUP')
    await expect.poll(() => n.stdout(), { timeout: 10_000 }).toContain('configuration reloaded')
    expect(n.stdout()).toMatch(/"level":"INFO".*"msg":"logging\.level changed: INFO -> DEBUG, in effect now"/)
    expect(n.stdout()).toMatch(/"level":"INFO".*"msg":"logging\.slow_query_ms changed: 600000 -> 0, in effect now"/)
    expect(n.stdout()).toMatch(/"level":"WARNING".*"msg":"http\.max_body_bytes changed in the file: needs a restart; the running value stays 1048576"/)
    expect(await sql("SELECT 'after reload'")).toBe(200)
    // The running limit stays 1 MiB: a 4 KiB request is still accepted.
    expect(await sql(`SELECT '${'x'.repeat(4096)}'`)).toBe(200)

    // An invalid file changes nothing: an ERROR, and the live values of the last good file stay.
    writeFileSync(cfg, 'logging:\n  level: LOUD\n  slow_query_ms: 600000\n')
    n.proc.kill('SIGHUP')
    await expect.poll(() => n.stdout(), { timeout: 10_000 }).toMatch(/"level":"ERROR".*configuration reload failed, keeping the running configuration: .*logging\.level/)
    expect(await sql("SELECT 'after a bad file'")).toBe(200)

    n.proc.kill('SIGTERM')
    expect(await n.exited).toBe(0)
    // DEBUG took effect: the stop sequence logs debug lines now
    expect(n.stdout()).toMatch(/"level":"DEBUG"/)
    // slow_query_ms 0 took effect at the reload, and stayed through the invalid file.
    const slow = readFileSync(join(dir, 'data', 'logs', 'slow_query.log'), 'utf8').trim().split('\n').map(l => (JSON.parse(l) as { statement: string }).statement)
    expect(slow).toEqual(["SELECT 'after reload'", expect.stringMatching(/^SELECT 'x{100}/), "SELECT 'after a bad file'"])
  })

  /** A node started from a config file of its own that sets storage.shards (rewritten by the tests). */
  async function withShardsFile (shards: number): Promise<{ cfg: string, data: string, cmd: string, args: string[], n: RunningNode }> {
    const dir = tempDir()
    const cfg = join(dir, 'node.yaml')
    const data = join(dir, 'data')
    writeFileSync(cfg, `storage:\n  shards: ${shards}\n`)
    const [cmd, args] = sourceCommand(['--config', cfg, '--data-dir', data, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'])
    const n = await startNode(cmd, args)
    running.push(n)
    return { cfg, data, cmd, args, n }
  }

  it('pins storage.shards to the data directory: SIGHUP reports a change as not applied, a restart with it is refused', async () => {
    const { cfg, data, cmd, args, n } = await withShardsFile(16)
    expect(JSON.parse(readFileSync(join(data, 'cluster.json'), 'utf8'))).toEqual({ cluster: 'scratchbird', shards: 16, epoch: 1, members: [1] })
    writeFileSync(cfg, 'storage:\n  shards: 8\n')
    n.proc.kill('SIGHUP')
    await expect.poll(() => n.stdout(), { timeout: 10_000 }).toContain('configuration reloaded')
    expect(n.stdout()).toMatch(/storage.shards 16 → 8 is not applied: the data directory holds 16 shards, and a restart with storage.shards 8 would be refused \(SB_LAYOUT_MISMATCH\)/)
    expect(n.stdout()).not.toMatch(/storage\.shards changed in the file: needs a restart/)
    n.proc.kill('SIGTERM')
    expect(await n.exited).toBe(0)
    const again = await runToExit(cmd, args)
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(/holds 16 shards, but storage.shards is 8.*\[SB_LAYOUT_MISMATCH\]/)
    expect(readdirSync(join(data, 'shards'))).toHaveLength(16)
  })

  it('after a split recorded in cluster.json, a file still saying the pre-split storage.shards starts with the recorded count and a WARNING', async () => {
    const { cfg, data, cmd, args, n: first } = await withShardsFile(4)
    first.proc.kill('SIGTERM')
    expect(await first.exited).toBe(0)
    // What a finished split 4 → 8 leaves in the data directory (cluster/shard-split.ts). No rows
    // were written, so none sits in a shard the new count does not route it to.
    const recorded = { cluster: 'scratchbird', shards: 8, epoch: 1, members: [1], splitFrom: [4] }
    writeFileSync(join(data, 'cluster.json'), JSON.stringify(recorded) + '\n')
    const n = await startNode(cmd, args)
    running.push(n)
    expect(n.stdout()).toMatch(/"level":"WARNING".*storage\.shards is 4, but data directory .* records that the cluster was split to 8 shards .*running with 8/)
    const res = await fetch(n.url('/v1/sql'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql: 'SHOW SHARD MAP' }) })
    expect(res.status).toBe(200)
    expect(((await res.json()) as { rows: unknown[][] }).rows).toHaveLength(8)
    expect(readdirSync(join(data, 'shards'))).toHaveLength(8)
    // Rows land in the 8 shards and read back.
    const sql = async (text: string): Promise<{ rows?: unknown[][] }> => await (await fetch(n.url('/v1/sql'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql: text }) })).json() as { rows?: unknown[][] }
    await sql('CREATE TABLE after_split (id INT PRIMARY KEY)')
    await sql(`INSERT INTO after_split (id) VALUES ${Array.from({ length: 40 }, (_, i) => `(${i})`).join(', ')}`)
    expect((await sql('SELECT count(*) FROM after_split')).rows).toEqual([['40']])
    // A reload with the same stale file: a warning, not "not applied" and not "needs a restart".
    n.proc.kill('SIGHUP')
    await expect.poll(() => n.stdout(), { timeout: 10_000 }).toContain('configuration reloaded')
    expect(n.stdout()).not.toMatch(/storage.shards .* is not applied|storage\.shards changed in the file: needs a restart/)
    n.proc.kill('SIGTERM')
    expect(await n.exited).toBe(0)
    expect(JSON.parse(readFileSync(join(data, 'cluster.json'), 'utf8'))).toEqual(recorded)
    // A count the cluster was never split from is still refused.
    writeFileSync(cfg, 'storage:\n  shards: 16\n')
    const again = await runToExit(cmd, args)
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(/holds 8 shards, but storage.shards is 16.*\[SB_LAYOUT_MISMATCH\]/)
  }, 300_000)
})

describe('scratchbird command line', () => {
  it('--version prints the seed\'s format', async () => {
    const [cmd, args] = sourceCommand(['--version'])
    const r = await runToExit(cmd, args)
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^ScratchBird Beta v\d+\.\d+\.\d+ \(\d{4}-\d{2}-\d{2}\)\n$/)
  })

  it('--help lists commands and flags', async () => {
    const [cmd, args] = sourceCommand(['--help'])
    const r = await runToExit(cmd, args)
    expect(r.code).toBe(0)
    for (const s of ['--config', '--data-dir', '--listen', '--node-id', '--metrics-listen', '--check-config', 'scratchbird_cli', 'scratchbird_backup', 'scratchbird_replay_commit_log']) {
      expect(r.stdout).toContain(s)
    }
  })

  it('--check-config accepts the man page\'s cluster example and the default file', async () => {
    const example = join(tempDir(), 'cluster.yaml')
    writeFileSync(example, SEED_CLUSTER_EXAMPLE)
    for (const file of [example, 'etc/scratchbird.yaml']) {
      const [cmd, args] = sourceCommand(['--config', file, '--check-config'])
      const r = await runToExit(cmd, args)
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
    }
  })

  it('--check-config on the seed cluster.yaml as written accepts it: its default_factor 2 under primary_replica is Mode 1 replication (issue 14)', async () => {
    const [cmd, args] = sourceCommand(['--config', 'tests/fixtures/config/seed-cluster.yaml', '--check-config'])
    const r = await runToExit(cmd, args)
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).not.toMatch(/default_factor|sync_replicas/)
    // Anti-entropy runs now (issue 15): its keys are no longer listed.
    expect(r.stdout).not.toMatch(/anti_entropy/)
  })

  it('--check-config of the seeds\' node file (TLS, audit, datacenters, replication defaults) finds every key in effect', async () => {
    const dir = tempDir()
    const cfg = join(dir, 'seed-node.yaml')
    // --check-config loads the TLS files: the example's paths point at certificates made here.
    const ca = new TestCa(join(dir, 'certs'))
    const node2 = ca.node(2)
    writeFileSync(cfg, `${SEED_CLUSTER_EXAMPLE}\n${NODE_EXAMPLE}`.replace('/etc/scratchbird/certs/node.crt', node2.cert)
      .replace('/etc/scratchbird/certs/node.key', node2.key).replace('/etc/scratchbird/certs/ca.crt', ca.cert))
    const [cmd, args] = sourceCommand(['--config', cfg, '--check-config'])
    const r = await runToExit(cmd, args)
    expect(r.code, r.stdout + r.stderr).toBe(0)
    // TLS is in effect now (issue 18 item 1; a node with unusable TLS files: tests/node/tls.test.ts),
    // and so are the audit log, node.datacenter and the replication.default_* keys.
    expect(r.stdout.trim().split('\n')).toEqual([`configuration OK: ${cfg}`])
  })

  it('--check-config loads the TLS files: a missing certificate or a key of another certificate fails the check', async () => {
    const dir = tempDir()
    const ca = new TestCa(join(dir, 'certs'))
    const [one, two] = [ca.node(1), ca.node(2)]
    const check = async (security: string): Promise<{ code: number | null, stdout: string }> => {
      const cfg = join(dir, 'tls.yaml')
      writeFileSync(cfg, `security:\n  tls_enabled: true\n${security}`)
      const r = await runToExit(...sourceCommand(['--config', cfg, '--check-config']))
      return { code: r.code, stdout: r.stdout }
    }
    const good = await check(`  tls_cert: ${one.cert}\n  tls_key: ${one.key}\n  tls_ca: ${ca.cert}\n`)
    expect(good.code, good.stdout).toBe(0)
    const missing = await check(`  tls_cert: ${join(dir, 'nope.crt')}\n  tls_key: ${one.key}\n  tls_ca: ${ca.cert}\n`)
    expect(missing.code).toBe(1)
    expect(missing.stdout).toMatch(/configuration NOT usable: TLS file .*nope\.crt: cannot be read.*\[SB_TLS_MATERIAL\]/)
    const mismatched = await check(`  tls_cert: ${one.cert}\n  tls_key: ${two.key}\n  tls_ca: ${ca.cert}\n`)
    expect(mismatched.code).toBe(1)
    expect(mismatched.stdout).toMatch(/does not make a usable pair.*\[SB_TLS_MATERIAL\]/)
  })

  it('--check-config of the default file finds nothing to warn about (every default is in effect)', async () => {
    const [cmd, args] = sourceCommand(['--config', 'etc/scratchbird.yaml', '--check-config'])
    const r = await runToExit(cmd, args)
    expect(r.code).toBe(0)
    expect(r.stdout.trim().split('\n')).toEqual(['configuration OK: etc/scratchbird.yaml'])
  })

  it('--check-config lists every problem and fails', async () => {
    const dir = tempDir()
    const cfg = join(dir, 'bad.yaml')
    writeFileSync(cfg, 'gossip:\n  fanout: lots\nstorage:\n  shards: 0\nbogus: 1\n')
    const [cmd, args] = sourceCommand(['--config', cfg, '--check-config', '--listen', 'nowhere'])
    const r = await runToExit(cmd, args)
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('gossip.fanout: expected an integer ≥ 1, got "lots"')
    expect(r.stderr).toContain('storage.shards')
    expect(r.stderr).toContain('bogus')
    expect(r.stderr).toContain('node.listen')
  })

  it('rejects unknown flags with a clear error', async () => {
    const [cmd, args] = sourceCommand(['--frobnicate'])
    const r = await runToExit(cmd, args)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/frobnicate.*SB_BAD_ARGUMENT/s)
  })
})
