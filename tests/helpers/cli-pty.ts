import { spawn, spawnSync } from 'node:child_process'
import { MAIN_TS, ROOT } from './node-process'

// Drives scratchbird_cli's interactive prompt, which only runs on a terminal, through a
// pseudo-terminal made by util-linux `script` (no extra dependency). Tests skip when it is absent.

export const HAVE_SCRIPT = spawnSync('script', ['--version']).status === 0

export interface PtyCli {
  /** Sends one line as if typed. */
  type: (line: string) => void
  /** Waits until the terminal output after the previous match matches `re`. */
  waitFor: (re: RegExp, timeoutMs?: number) => Promise<void>
  output: () => string
  exited: Promise<number | null>
  kill: () => void
}

export function cliOnPty (url: string, env: NodeJS.ProcessEnv): PtyCli {
  const quote = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`
  const command = [process.execPath, '--import', 'tsx', MAIN_TS, 'cli', '--url', url].map(quote).join(' ')
  // -q: no start/end banner; -e: exit with the CLI's status; /dev/null: keep no typescript file
  const proc = spawn('script', ['-qec', command, '/dev/null'], { cwd: ROOT, env: { ...env, TERM: 'dumb' }, stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  proc.stdout.on('data', (d: Buffer) => { out += d.toString() })
  proc.stderr.on('data', (d: Buffer) => { out += d.toString() })
  const exited = new Promise<number | null>(resolve => proc.on('exit', code => resolve(code)))
  let seen = 0
  return {
    type: (line) => { proc.stdin.write(line + '\n') },
    waitFor: async (re, timeoutMs = 20_000) => {
      const until = Date.now() + timeoutMs
      for (;;) {
        const m = re.exec(out.slice(seen))
        if (m) { seen += m.index + m[0].length; return }
        if (Date.now() > until) throw new Error(`no ${String(re)} in the terminal output:\n${out}`)
        await new Promise(resolve => setTimeout(resolve, 50))
      }
    },
    output: () => out,
    exited,
    kill: () => { proc.kill('SIGKILL') }
  }
}
