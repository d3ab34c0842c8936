import { copyFileSync, existsSync, readdirSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ROOT, runToExit, startNode, tempDir, type RunningNode } from '../helpers/node-process'

// The single executable, copied alone into an empty directory (no node_modules anywhere near
// it): --version, program-name dispatch, and a server whose worker threads open LevelDB through
// the addon embedded as a SEA asset. `npm test` builds dist/ first; this fails if it is missing.

const EXE = join(ROOT, 'dist', 'scratchbird')
const dir = tempDir('sb-sea-')
const exe = join(dir, 'scratchbird')
let node: RunningNode | undefined

afterAll(() => { node?.proc.kill('SIGKILL') })

describe('dist/scratchbird single executable', () => {
  it('exists (run npm run build)', () => {
    expect(existsSync(EXE)).toBe(true)
    copyFileSync(EXE, exe)
    expect(readdirSync(dir)).toEqual(['scratchbird'])
  })

  it('prints its version', async () => {
    const r = await runToExit(exe, ['--version'], { cwd: dir })
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^ScratchBird Beta v\d+\.\d+\.\d+ \(\d{4}-\d{2}-\d{2}\)\n$/)
  })

  it('starts a node whose workers open LevelDB, answers health, stops on SIGTERM', async () => {
    node = await startNode(exe, ['--data-dir', './data', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'], { cwd: dir })
    const health = await (await fetch(node.url('/v1/health'))).json() as Record<string, unknown>
    expect(health).toMatchObject({ nodeId: 1, state: 'ready', shardsOpen: 16 })
    expect(existsSync(join(dir, 'data', 'shards', '0', 'CURRENT'))).toBe(true)

    // program-name dispatch: a link named scratchbird_cli runs the CLI
    symlinkSync('scratchbird', join(dir, 'scratchbird_cli'))
    const cli = await runToExit(join(dir, 'scratchbird_cli'), ['--health', '--host', node.listen], { cwd: dir })
    expect(cli.stderr).toBe('')
    expect(JSON.parse(cli.stdout)).toMatchObject({ nodeId: 1, state: 'ready' })
    // … and so does the subcommand form
    const sub = await runToExit(exe, ['cli', '--health', '--host', node.listen], { cwd: dir })
    expect(JSON.parse(sub.stdout)).toMatchObject({ state: 'ready' })

    node.proc.kill('SIGTERM')
    expect(await node.exited).toBe(0)
  })

  it('dispatches every program name of the seeds', async () => {
    for (const name of ['scratchbird_migrate', 'scratchbird_backup', 'scratchbird_verify_backup', 'scratchbird_restore', 'scratchbird_replay_commit_log']) {
      expect(existsSync(join(ROOT, 'dist', name))).toBe(true)
      const r = await runToExit(join(ROOT, 'dist', name), ['--help'], { cwd: dir })
      expect(r.code).toBe(0)
      expect(r.stdout.startsWith(`${name} — `)).toBe(true)
    }
  })
})
