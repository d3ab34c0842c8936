import { existsSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { useReplicatedCluster } from '../helpers/mode1'
import { runToExit, sourceCommand } from '../helpers/node-process'

// Issue 17 item 5 (real processes): `scratchbird_backup --cluster` of a 3-node cluster while
// cross-shard transfers commit, every data directory destroyed, every node restored from the
// cluster backup and started again. Each transfer is one transaction over three shards (debit,
// credit, a ledger row), so the restored cluster must hold each either whole or not at all: every
// balance equals the initial one plus what the restored ledger says moved, and the total is the
// initial total. The accounts' table has one copy per shard (replication_factor = 1), so a shard
// lives on one node only and a transfer spans nodes: a node cut at another point than the others
// shows here as a ledger that does not explain the balances.
const ACCOUNTS = 8
const BALANCE = 1000

function program (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const [cmd, argv] = sourceCommand(args)
  return runToExit(cmd, argv, { timeoutMs: 180_000 })
}

describe('scratchbird_backup --cluster, all data directories destroyed, scratchbird_restore of every node (real processes)', () => {
  const r = useReplicatedCluster({ nodes: 3, shards: 6 })

  it('restores a cluster in which every cross-shard transfer is whole or absent, with the catalog, and healthy members', { timeout: 600_000 }, async () => {
    const { cluster } = r
    const opts = 'WITH (replication_mode = \'primary_replica\', replication_factor = 1)'
    await r.write(1, `CREATE TABLE bank (id INT PRIMARY KEY, bal INT) ${opts}`)
    await r.write(1, `CREATE TABLE ledger (id INT PRIMARY KEY, src INT, dst INT, amt INT) ${opts}`)
    for (let id = 1; id <= ACCOUNTS; id++) await r.write(1 + (id % 3), `INSERT INTO bank VALUES (${id}, ${BALANCE})`, [], { okCodes: ['SB_UNIQUE_VIOLATION'] })
    // With one copy a shard's first preference node holds it (SHOW SHARD MAP).
    const firstNode = new Map((await r.read(1, 'SHOW SHARD MAP')).map(row => [Number(row[0]), Number(String(row[1]).split(',')[0])]))
    const owners = new Set<number>()
    for (let id = 1; id <= ACCOUNTS; id++) owners.add(firstNode.get(await r.shardOf('bank', 'id', id))!)
    expect(owners.size).toBeGreaterThan(1) // the accounts live on several nodes: transfers span them

    const load = { stop: false }
    let next = 0
    const acked: number[] = []
    const transfer = async (p: number): Promise<void> => {
      for (let i = 0; !load.stop; i++) {
        const id = ++next
        const from = 1 + ((p * 5 + i) % ACCOUNTS)
        const to = 1 + ((from + p) % ACCOUNTS)
        const amt = 1 + (id % 7)
        const res = await cluster.sql(1 + (id % 3), `BEGIN; UPDATE bank SET bal = bal - ${amt} WHERE id = ${from}; UPDATE bank SET bal = bal + ${amt} WHERE id = ${to}; ` +
          `INSERT INTO ledger VALUES (${id}, ${from}, ${to}, ${amt}); COMMIT`)
        if (res.status === 200) acked.push(id)
      }
    }
    const running = Promise.all([0, 1, 2, 3].map(transfer))
    await cluster.waitFor(() => acked.length >= 20 ? true : null, { what: 'transfers before the backup', timeoutMs: 60_000 })
    const ackedBefore = [...acked]
    const out = join(cluster.root, 'cluster-backup')
    const urls = cluster.ids.map(id => `http://${cluster.node(id).listen}`).join(',')
    const b = await program(['backup', '--cluster', `--url=${urls}`, `--output=${out}`])
    expect(b.stderr).toMatch(/backup: wrote .*cluster backup \d+ of cluster "sb-test", nodes 1, 2, 3, cut at HLC \d+/)
    expect(b.code).toBe(0)
    const duringBackup = acked.length - ackedBefore.length
    load.stop = true
    await running
    console.log(`transfers acknowledged: ${ackedBefore.length} before the backup, ${duringBackup} while it ran, ${acked.length} in all`)
    expect(duringBackup).toBeGreaterThan(0) // the cut fell among running transfers
    expect(readdirSync(out).sort()).toEqual(['cluster-manifest.json', 'node-1.full.tar', 'node-1.log.tar', 'node-2.full.tar', 'node-2.log.tar', 'node-3.full.tar', 'node-3.log.tar'])
    const v = await program(['verify-backup', `--file=${out}`])
    expect(v.stdout).toMatch(/OK \(3 node\(s\)/)
    expect(v.code).toBe(0)
    const tablesBefore = await r.read(1, 'SELECT table_name FROM sys_tables ORDER BY table_name')

    for (const id of cluster.ids) await cluster.stop(id)
    for (const id of cluster.ids) {
      rmSync(cluster.node(id).dataDir, { recursive: true, force: true })
      expect(existsSync(cluster.node(id).dataDir)).toBe(false)
    }
    for (const id of cluster.ids) {
      const res = await program(['restore', `--file=${out}`, `--node=${id}`, `--target=${cluster.node(id).dataDir}`])
      expect(res.stderr).toMatch(new RegExp(`restored as node ${id} of cluster backup \\d+`))
      expect(res.code).toBe(0)
    }
    for (const id of cluster.ids) await cluster.start(id)
    await cluster.waitAllNormal(cluster.ids, 60_000)

    const members = await r.read(2, 'SHOW CLUSTER MEMBERS')
    expect(members.length).toBe(3)
    expect(await r.read(1, 'SELECT table_name FROM sys_tables ORDER BY table_name')).toEqual(tablesBefore)
    const bank = new Map((await r.read(1, 'SELECT id, bal FROM bank')).map(row => [Number(row[0]), Number(row[1])]))
    const ledger = await r.read(3, 'SELECT id, src, dst, amt FROM ledger')
    expect(bank.size).toBe(ACCOUNTS)
    // Every transfer acknowledged before the backup began committed below the cut.
    const inLedger = new Set(ledger.map(row => Number(row[0])))
    expect(ackedBefore.filter(id => !inLedger.has(id))).toEqual([])
    // Each transfer whole or absent: the ledger explains every balance.
    const expected = new Map(Array.from({ length: ACCOUNTS }, (_, k) => [k + 1, BALANCE]))
    for (const [, src, dst, amt] of ledger.map(row => row.map(Number))) {
      expected.set(src!, expected.get(src!)! - amt!)
      expected.set(dst!, expected.get(dst!)! + amt!)
    }
    expect(bank).toEqual(expected)
    expect([...bank.values()].reduce((a, x) => a + x, 0)).toBe(ACCOUNTS * BALANCE)
    console.log(`restored: ${ledger.length} transfer(s) of ${acked.length} acknowledged (${acked.length - ledger.length} after the cut)`)
    // The restored cluster takes writes.
    await r.write(1, 'UPDATE bank SET bal = bal + 0 WHERE id = 1')
  })
})
