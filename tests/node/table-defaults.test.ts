import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'

// The config's replication.default_* reach CREATE TABLE on a real node (issue 13 item 7): a table
// created without options takes them, sys_tables shows what it got, the statement's WITH wins.

let node: RunningNode | undefined
afterAll(() => { node?.proc.kill('SIGKILL') })

async function sql (text: string): Promise<{ rows?: unknown[][], error?: { code: string } }> {
  const res = await fetch(node!.url('/v1/sql'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql: text }) })
  return await res.json() as { rows?: unknown[][], error?: { code: string } }
}

describe('replication.default_* as the defaults of new tables', () => {
  it('a node configured with default_mode: leaderless_quorum creates leaderless tables unless WITH says otherwise', async () => {
    const dir = tempDir()
    const cfg = join(dir, 'node.yaml')
    writeFileSync(cfg, 'replication:\n  default_mode: leaderless_quorum\n')
    const [cmd, args] = sourceCommand(['--config', cfg, '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'])
    node = await startNode(cmd, args)
    expect(await sql("CREATE TABLE td_plain (k BIGINT PRIMARY KEY); CREATE TABLE td_with (k BIGINT PRIMARY KEY) WITH (replication_mode = 'primary_replica')")).not.toHaveProperty('error')
    expect((await sql("SELECT table_name, replication_mode, replication_factor, write_quorum, read_quorum, uuid_type FROM sys_tables WHERE table_name LIKE 'td_%' ORDER BY table_name")).rows).toEqual([
      ['td_plain', 'leaderless_quorum', 1, 1, 1, 'v8_hlc'],
      ['td_with', 'primary_replica', 1, 1, 1, 'v7']
    ])
  })
})
