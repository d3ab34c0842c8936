import { cpSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT, runToExit, sourceCommand, startNode, tempDir, type RunningNode, postSql, runProgram } from '../helpers/node-process'

// Data-directory format versions and scratchbird_migrate --from=alpha --to=beta (issue 17 item 6)
// on the alpha fixture (tests/fixtures/alpha: a catalog without the six replication columns): a
// node refuses it naming the command; --dry-run shows the six statements and changes nothing; the
// migration takes a backup first, is idempotent, and the node then starts and answers the seeds'
// Step 3 query with the defaults; a directory of a newer format is refused.

let dir: string
let data: string
let node: RunningNode | null = null

const program = async (args: string[]): ReturnType<typeof runProgram> => await runProgram(args)

function nodeArgs (): string[] {
  return ['--data-dir', data, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--pg-listen', 'off']
}

const sql = postSql

beforeAll(() => {
  dir = tempDir('sb-migrate-')
  data = join(dir, 'data')
  cpSync(join(ROOT, 'tests/fixtures/alpha'), data, { recursive: true })
})
afterAll(() => { node?.proc.kill('SIGKILL') })

describe('scratchbird_migrate --from=alpha --to=beta', () => {
  it('a node refuses an alpha directory, naming the command', async () => {
    const r = await program(nodeArgs())
    expect(r.code).not.toBe(0)
    expect(r.stdout + r.stderr).toMatch(/format alpha.*scratchbird_migrate --from=alpha --to=beta/)
  }, 120_000)

  it('--dry-run prints the six statements and changes nothing', async () => {
    const before = readFileSync(join(data, 'catalog.json'), 'utf8')
    const r = await program(['migrate', '--from=alpha', '--to=beta', `--target=${data}`, '--dry-run'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout.match(/ALTER TABLE sys_tables ADD COLUMN/g)).toHaveLength(6)
    expect(r.stdout).toMatch(/replication_mode VARCHAR\(20\) DEFAULT 'primary_replica';\s+-- users, sensor_data/)
    expect(readFileSync(join(data, 'catalog.json'), 'utf8')).toBe(before)
    expect(JSON.parse(readFileSync(join(data, 'format.json'), 'utf8')).format).toBe(1)
  }, 120_000)

  it('migrates after a checked backup, is idempotent, and the node starts on the result', async () => {
    const backup = join(dir, 'scratchbird_alpha.tar.gz')
    const r = await program(['migrate', '--from=alpha', '--to=beta', `--target=${data}`, `--backup-output=${backup}`])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/backup written and checked/)
    expect((await program(['verify-backup', `--file=${backup}`])).code).toBe(0)
    expect(JSON.parse(readFileSync(join(data, 'format.json'), 'utf8'))).toEqual({ format: 2, name: 'beta' })
    const again = await program(['migrate', '--from=alpha', '--to=beta', `--target=${data}`])
    expect(again.code).toBe(0)
    expect(again.stderr).toMatch(/already in format beta; nothing to do/)

    const [cmd, args] = sourceCommand(nodeArgs())
    node = await startNode(cmd, args, { timeoutMs: 60_000 })
    const n = node
    expect((await sql(n, 'SELECT table_name, replication_mode, uuid_type FROM sys_tables ORDER BY table_name LIMIT 10')).rows)
      .toEqual([['sensor_data', 'primary_replica', 'v7'], ['users', 'primary_replica', 'v7']])
    expect((await sql(n, "INSERT INTO users (user_id, name) VALUES ('user_123', 'Alice')")).error).toBeUndefined()
    expect((await sql(n, 'SELECT name FROM users')).rows).toEqual([['Alice']])
    n.proc.kill('SIGTERM')
    expect(await n.exited).toBe(0)
    node = null

    // Rollback as the seeds run it: the alpha backup restored into the directory makes it alpha again.
    const back = await program(['restore', `--backup=${backup}`, `--target=${data}`])
    expect(back.code, back.stderr).toBe(0)
    const refused = await program(nodeArgs())
    expect(refused.stdout + refused.stderr).toMatch(/format alpha/)
  }, 300_000)

  it('a node refuses a directory of a newer format', async () => {
    const newer = join(dir, 'newer')
    cpSync(join(ROOT, 'tests/fixtures/alpha'), newer, { recursive: true })
    writeFileSync(join(newer, 'format.json'), JSON.stringify({ format: 3, name: 'gamma' }))
    const [cmd, args] = sourceCommand(['--data-dir', newer, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--pg-listen', 'off'])
    const r = await runToExit(cmd, args, { timeoutMs: 60_000 })
    expect(r.code).not.toBe(0)
    expect(r.stdout + r.stderr).toMatch(/format 3, newer than this release's.*SB_DATA_FORMAT|SB_DATA_FORMAT.*format 3/s)
  }, 120_000)
})
