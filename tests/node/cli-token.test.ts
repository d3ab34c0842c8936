import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { runToExit, sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'

// Bearer tokens in the command-line tools (issue 18 item 2), against a real node: a token from
// CREATE TOKEN lets scratchbird_cli run a statement (from --token-file and from
// SCRATCHBIRD_TOKEN); without one, or with a wrong one, the node refuses and the CLI prints its
// coded error; scratchbird_backup prints the node's SB_AUTH_FAILED for a wrong token.

const running: RunningNode[] = []
afterEach(() => { for (const n of running.splice(0)) n.proc.kill('SIGKILL') })

describe('scratchbird_cli and scratchbird_backup with a bearer token', () => {
  it('runs a statement with a token from CREATE TOKEN and is refused without one', async () => {
    const dir = tempDir()
    const cfg = join(dir, 'node.yaml')
    writeFileSync(cfg, 'security:\n  bootstrap_admin: admin\n')
    const [cmd, args] = sourceCommand(['--config', cfg, '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'])
    const n = await startNode(cmd, args, { env: { SCRATCHBIRD_ADMIN_PASSWORD: 'adm' } })
    running.push(n)
    const url = `http://${n.listen}`
    // The environment of the test runner must not lend the CLI credentials.
    const base: NodeJS.ProcessEnv = { ...process.env }
    for (const k of ['SCRATCHBIRD_USER', 'SCRATCHBIRD_PASSWORD', 'SCRATCHBIRD_TOKEN']) delete base[k]
    const run = (argv: string[], env: Record<string, string> = {}): Promise<{ code: number | null, stdout: string, stderr: string }> => {
      const [c, a] = sourceCommand(argv)
      return runToExit(c, a, { env: { ...base, ...env }, timeoutMs: 120_000 })
    }

    const made = await run(['cli', '--url', url, '--user', 'admin', '--format', 'json', '--command', 'CREATE TOKEN ops'], { SCRATCHBIRD_PASSWORD: 'adm' })
    expect(made.code, made.stderr).toBe(0)
    const token = /"(sbt_[^"]+)"/.exec(made.stdout)?.[1]
    expect(token, made.stdout).toBeDefined()
    writeFileSync(join(dir, 'token'), `${token!}\n`)

    const viaFile = await run(['cli', '--url', url, '--token-file', join(dir, 'token'), '--format', 'csv', '--command', 'SELECT 40 + 2 AS answer'])
    expect(viaFile.code, viaFile.stderr).toBe(0)
    expect(viaFile.stdout).toContain('42')
    const viaEnv = await run(['cli', '--url', url, '--format', 'csv', '--command', 'SELECT 7 AS seven'], { SCRATCHBIRD_TOKEN: token! })
    expect(viaEnv.code, viaEnv.stderr).toBe(0)
    expect(viaEnv.stdout).toContain('7')

    const none = await run(['cli', '--url', url, '--command', 'SELECT 1'])
    expect(none.code).toBe(1)
    expect(none.stderr).toMatch(/^ERROR: .*\[SB_AUTH_FAILED\]$/m)
    const wrong = await run(['cli', '--url', url, '--command', 'SELECT 1'], { SCRATCHBIRD_TOKEN: 'sbt_not_a_real_token' })
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toMatch(/^ERROR: .*\[SB_AUTH_FAILED\]$/m)
    const backup = await run(['backup', '--url', url, '--output', join(dir, 'b.tar')], { SCRATCHBIRD_TOKEN: 'sbt_not_a_real_token' })
    expect(backup.code).not.toBe(0)
    expect(backup.stderr).toMatch(/\[SB_AUTH_FAILED\]/)
  }, 240_000)
})
