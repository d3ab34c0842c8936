import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HAVE_SCRIPT, cliOnPty } from '../helpers/cli-pty'
import { ROOT, runToExit, sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'

// scratchbird_cli against a real node (issue 4 "CLI"): --command with several statements, a
// failing statement (results before it printed, ERROR line on stderr, exit 1), -f with the seed's
// users/orders colocation script, the json and csv formats, SQL on piped standard input, and the
// interactive prompt — driven through a pseudo-terminal by util-linux `script` when it is
// installed — with a multi-line statement and a BEGIN … COMMIT spanning prompts.

let node: RunningNode
let dir: string

beforeAll(async () => {
  dir = tempDir('sb-cli-')
  const [cmd, args] = sourceCommand(['--config', join(ROOT, 'etc/scratchbird.yaml'), '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'])
  node = await startNode(cmd, args)
}, 60_000)
afterAll(() => { node?.proc.kill('SIGKILL') })

type Json = Record<string, any>

/** The CLI with HOME in the temp dir (the prompt writes its history file there). */
function cliEnv (): NodeJS.ProcessEnv {
  return { ...process.env, HOME: dir }
}

function cli (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const [cmd, argv] = sourceCommand(['cli', '--url', `http://${node.listen}`, ...args])
  return runToExit(cmd, argv)
}

/** Runs the CLI with `input` piped to its standard input. */
function cliWithStdin (args: string[], input: string): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const [cmd, argv] = sourceCommand(['cli', '--url', `http://${node.listen}`, ...args])
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, argv, { cwd: ROOT, env: cliEnv(), stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    proc.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    proc.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`cli timed out\n${stdout}\n${stderr}`)) }, 30_000)
    proc.on('error', reject)
    proc.on('exit', code => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
    proc.stdin.end(input)
  })
}

async function sql (text: string): Promise<Json> {
  const res = await fetch(node.url('/v1/sql'), { method: 'POST', body: JSON.stringify({ sql: text }) })
  return await res.json() as Json
}

describe('scratchbird_cli against a node', () => {
  it('--command runs several statements and prints their results in order', async () => {
    const out = await cli(['--command', "CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER, n TEXT); INSERT INTO t VALUES ('a', 1, 'x,y'), ('b', NULL, 'say \"hi\"'); SELECT k, v, n FROM t ORDER BY k; SELECT count(*) AS c FROM t"])
    expect(out.stderr).toBe('')
    expect(out.code).toBe(0)
    const lines = out.stdout.split('\n').map(l => l.trimEnd())
    expect(lines).toEqual([
      'CREATE TABLE',
      'INSERT 2',
      'k | v    | n       ',
      '--+------+---------',
      'a | 1    | x,y     ',
      'b | NULL | say "hi"',
      '(2 rows)',
      'c',
      '-',
      '2',
      '(1 row)',
      ''
    ].map(l => l.trimEnd()))
  })

  it('stops at a failing statement: earlier results printed, ERROR … [CODE] on stderr, exit 1', async () => {
    const out = await cli(['--command', 'CREATE TABLE f (k INTEGER PRIMARY KEY); INSERT INTO f VALUES (1); INSERT INTO f VALUES (1); SELECT 99 AS never'])
    expect(out.code).toBe(1)
    expect(out.stdout).toBe('CREATE TABLE\nINSERT 1\n')
    expect(out.stderr).toMatch(/^ERROR: .+ \[SB_UNIQUE_VIOLATION\]\n$/)
    // the statements before the failure autocommitted
    expect((await sql('SELECT k FROM f')).rows).toEqual([[1]])
  })

  it('-f runs the seed users/orders colocation script', async () => {
    const file = join(dir, 'colocation.sql')
    writeFileSync(file, `-- users and orders colocated on user_id (the Operations Guide's transaction)
CREATE TABLE users (user_id VARCHAR(50) PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE orders (order_id UUID PRIMARY KEY, user_id VARCHAR(50) NOT NULL REFERENCES users (user_id), amount DECIMAL(10,2))
  PARTITION BY user_id;

BEGIN TRANSACTION;
INSERT INTO users (user_id, name) VALUES ('user_123', 'Alice');
INSERT INTO orders (order_id, user_id, amount) VALUES (gen_uuidv8_hlc(), 'user_123', 100.0);
COMMIT;

SELECT u.name, o.amount
FROM users u JOIN orders o ON u.user_id = o.user_id
WHERE u.user_id = 'user_123';

-- not colocated: the DDL answers a warning, which the CLI prints
CREATE TABLE orders_2 (order_id UUID PRIMARY KEY, user_id VARCHAR(50) REFERENCES users (user_id));
`)
    const out = await cli(['-f', file])
    expect(out.stderr).toBe('')
    expect(out.code).toBe(0)
    expect(out.stdout.split('\n').map(l => l.trimEnd())).toEqual([
      'CREATE TABLE', 'CREATE TABLE',
      'WARNING: primary key (order_id) of "orders" does not hold its partition key (user_id): global unique index "orders_pkey" keeps it unique across shards, so a write of the key may be a two-shard transaction; partitioning by order_id avoids it',
      'BEGIN', 'INSERT 1', 'INSERT 1', 'COMMIT',
      'name  | amount', '------+-------', 'Alice | 100.00', '(1 row)',
      'CREATE TABLE', 'WARNING: Consider PARTITION BY user_id for colocation', ''
    ])
    // the transaction was local to user_123's shard
    const plan = await sql("EXPLAIN SELECT * FROM orders WHERE user_id = 'user_123'")
    expect(plan.rows[0][0]).toContain('shard 7 (partition key pinned)')
  })

  it('--format csv and --format json', async () => {
    await sql("CREATE TABLE fmt (k TEXT PRIMARY KEY, v BIGINT, d DECIMAL(5,2)); INSERT INTO fmt VALUES ('a,1', 9007199254740993, 1.5), ('b', NULL, NULL)")
    const csv = await cli(['--format', 'csv', '--command', 'SELECT k, v, d FROM fmt ORDER BY k'])
    expect(csv.code).toBe(0)
    expect(csv.stdout).toBe('k,v,d\r\n"a,1",9007199254740993,1.50\r\nb,,\r\n')

    const json = await cli(['--format', 'json', '--command', "SELECT k, v, d FROM fmt ORDER BY k; INSERT INTO fmt VALUES ('c', 1, 2)"])
    expect(json.code).toBe(0)
    // a multi-statement script: ONE JSON document, the array of the results in order
    const docs = JSON.parse(json.stdout) as Json[]
    expect(docs).toHaveLength(2)
    expect(docs[0]).toMatchObject({ command: 'SELECT', columns: ['k', 'v', 'd'], rows: [['a,1', '9007199254740993', '1.50'], ['b', null, null]], rowCount: 2, warnings: [] })
    expect(docs[1]).toMatchObject({ command: 'INSERT', rowCount: 1 })
    // one statement: the result object itself
    expect(JSON.parse((await cli(['--format', 'json', '--command', 'SELECT count(*) AS c FROM fmt'])).stdout)).toMatchObject({ command: 'SELECT', rows: [['3']] })

    // several result sets in csv: each with its header, separated by an empty line
    const sets = await cli(['--format', 'csv', '--command', "SELECT k FROM fmt WHERE k = 'b'; INSERT INTO fmt VALUES ('d', 4, 4); SELECT count(*) AS c FROM fmt"])
    expect(sets.code).toBe(0)
    expect(sets.stdout).toBe('k\r\nb\r\n\r\nc\r\n4\r\n')

    // a failing script still prints one JSON document (the results before the failure), the error on stderr
    const failed = await cli(['--format', 'json', '--command', "SELECT 1 AS one; INSERT INTO fmt VALUES ('a,1', 0, 0)"])
    expect(failed.code).toBe(1)
    expect(JSON.parse(failed.stdout)).toMatchObject([{ command: 'SELECT', rows: [[1]] }])
    expect(failed.stderr).toMatch(/^ERROR: .+ \[SB_UNIQUE_VIOLATION\]\n$/)
  })

  it('reads SQL from piped standard input', async () => {
    const out = await cliWithStdin([], "CREATE TABLE piped (k INTEGER PRIMARY KEY, s TEXT);\nINSERT INTO piped VALUES (1, 'one;two'),\n  (2, 'two');\nSELECT s FROM piped\n  ORDER BY k;\n")
    expect(out.stderr).toBe('')
    expect(out.code).toBe(0)
    expect(out.stdout.split('\n').map(l => l.trimEnd())).toEqual(['CREATE TABLE', 'INSERT 2', 's', '-------', 'one;two', 'two', '(2 rows)', ''])

    const empty = await cliWithStdin([], '  \n')
    expect(empty.code).toBe(2)
    expect(empty.stderr).toContain('no statements given')
  })

  it('exits 3 when the node cannot be reached', async () => {
    const [cmd, argv] = sourceCommand(['cli', '--url', 'http://127.0.0.1:1', '--command', 'SELECT 1'])
    const out = await runToExit(cmd, argv)
    expect(out.code).toBe(3)
    expect(out.stderr).toContain('cannot reach http://127.0.0.1:1')
  })

  it.skipIf(!HAVE_SCRIPT)('prompts on a terminal: multi-line statements, BEGIN … COMMIT across prompts, \\q rolls back', async () => {
    await sql('CREATE TABLE tty (k TEXT PRIMARY KEY, v INTEGER)')
    const pty = cliOnPty(`http://${node.listen}`, cliEnv())
    const { type, waitFor } = pty
    const killer = setTimeout(pty.kill, 40_000)
    try {
      await waitFor(/Connected to http:\/\/[^ ]+\. End statements with ;/)
      await waitFor(/scratchbird> /)
      // a statement over three lines, with a ; inside a string at the end of a line
      type('SELECT length(\'a;')
      await waitFor(/scratchbird-> /)
      type("b') AS len,")
      await waitFor(/scratchbird-> /)
      type('  40 + 2 AS answer;')
      await waitFor(/len \| answer\s*\r?\n----\+-------\s*\r?\n4\s+\| 42\s*\r?\n\(1 row\)/)

      type('BEGIN;')
      await waitFor(/^BEGIN\r?$/m)
      type("INSERT INTO tty VALUES ('p', 1);")
      await waitFor(/^INSERT 1\r?$/m)
      // the session holds the transaction open between prompts: nothing visible outside yet
      expect((await sql('SELECT count(*) FROM tty')).rows).toEqual([['0']])
      type("UPDATE tty SET v = 2 WHERE k = 'p';")
      await waitFor(/^UPDATE 1\r?$/m)
      type('COMMIT;')
      await waitFor(/^COMMIT\r?$/m)
      expect((await sql('SELECT k, v FROM tty')).rows).toEqual([['p', 2]])

      // an error at the prompt is printed and the prompt goes on
      type('SELECT 1/0;')
      await waitFor(/ERROR: .*\[SB_DIVISION_BY_ZERO\]/)
      // quitting with a transaction open rolls it back at once (the session is closed), rather
      // than holding its rows until http.session_idle_timeout_ms
      type('BEGIN;')
      await waitFor(/^BEGIN\r?$/m)
      type("UPDATE tty SET v = 3 WHERE k = 'p';")
      await waitFor(/^UPDATE 1\r?$/m)
      type('\\q')
      expect(await pty.exited).toBe(0)
      const after = await fetch(node.url('/v1/sql'), { method: 'POST', body: JSON.stringify({ sql: "UPDATE tty SET v = 4 WHERE k = 'p'" }) })
      expect(after.status, await after.clone().text()).toBe(200)
      expect((await sql('SELECT v FROM tty')).rows).toEqual([[4]])
    } finally {
      clearTimeout(killer)
      pty.kill()
    }
  }, 60_000)
})
