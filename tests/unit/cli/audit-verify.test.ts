import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { parseCommandLine, parseFlags } from '../../../src/cli/args'
import { runAuditVerify } from '../../../src/cli/audit-verify'
import { helpText, programFor } from '../../../src/cli/programs'
import { AuditFile } from '../../../src/ops/audit/file'

function run (args: string[]): { code: number, out: string } {
  const { flags, positionals } = parseCommandLine('scratchbird_audit', args)
  const out = new PassThrough()
  let text = ''
  out.on('data', (d: Buffer) => { text += d.toString() })
  const code = runAuditVerify(flags, positionals, out)
  return { code, out: text }
}

describe('scratchbird audit verify', () => {
  it('dispatches as a subcommand and shows its usage', () => {
    expect(programFor('/opt/scratchbird', 'audit')).toEqual({ program: 'scratchbird_audit', argsFrom: 1 })
    expect(helpText('scratchbird_audit')).toContain('usage: scratchbird_audit [flags] verify FILE')
    expect(() => parseFlags('scratchbird_cli', ['stray'])).toThrow(/unexpected argument 'stray'/)
  })

  it('exits 0 with a summary when intact and 1 naming the first bad line; refuses an unreadable file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-auditcli-'))
    const file = join(dir, 'audit.log')
    const f = new AuditFile({ path: file, node: 2, now: () => 0 })
    f.open()
    for (const t of ['a', 'b', 'c']) f.append({ event: 'DROP TABLE', user: 'http', client: '', protocol: 'http', statement: `DROP TABLE ${t}`, outcome: 'ok' })
    f.close()
    expect(run(['verify', file])).toEqual({ code: 0, out: `${file}: intact, 3 lines, end matches ${file}.head\n` })
    const json = run(['verify', file, '--json'])
    expect(JSON.parse(json.out)).toMatchObject({ ok: true, lines: 3, head: 'matched' })
    const lines = readFileSync(file, 'utf8').split('\n')
    writeFileSync(file, [lines[0], lines[2], ''].join('\n'))
    const bad = run(['verify', file])
    expect(bad.code).toBe(1)
    expect(bad.out).toMatch(/: line 2: seq 3 on line 2: lines were removed, inserted or reordered before it \[SB_AUDIT_CHAIN_BROKEN\]/)
    expect(() => run(['verify', join(dir, 'missing.log')])).toThrow(/cannot read audit log/)
    expect(() => run(['check', file])).toThrow(/usage: scratchbird audit verify FILE/)
  })
})
