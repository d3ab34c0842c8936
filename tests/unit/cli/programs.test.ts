import { describe, expect, it } from 'vitest'
import { parseFlags } from '../../../src/cli/args'
import { helpText, PROGRAMS, programFor } from '../../../src/cli/programs'

describe('program dispatch', () => {
  it('dispatches on the invoked name, with or without a path', () => {
    expect(programFor('/usr/local/bin/scratchbird_cli', '--command')).toEqual({ program: 'scratchbird_cli', argsFrom: 0 })
    expect(programFor('scratchbird_restore', undefined).program).toBe('scratchbird_restore')
  })
  it('dispatches on a first-argument subcommand', () => {
    expect(programFor('/opt/scratchbird', 'cli')).toEqual({ program: 'scratchbird_cli', argsFrom: 1 })
    expect(programFor('node', 'replay-commit-log')).toEqual({ program: 'scratchbird_replay_commit_log', argsFrom: 1 })
  })
  it('defaults to the server', () => {
    expect(programFor('node', '--config')).toEqual({ program: 'scratchbird', argsFrom: 0 })
  })
  it('has help for every program that names its flags', () => {
    for (const name of Object.keys(PROGRAMS) as (keyof typeof PROGRAMS)[]) {
      const text = helpText(name)
      expect(text.startsWith(`${name} — `)).toBe(true)
      for (const f of PROGRAMS[name].flags) expect(text).toContain(`--${f.name}`)
    }
  })
})

describe('parseFlags', () => {
  it('parses string and boolean flags', () => {
    expect(parseFlags('scratchbird', ['--config', 'x.yaml', '--check-config', '--node-id', '3']))
      .toMatchObject({ config: 'x.yaml', 'check-config': true, 'node-id': '3' })
  })
  it('rejects unknown flags, missing values and stray arguments with SB_BAD_ARGUMENT', () => {
    for (const argv of [['--nope'], ['--config'], ['stray']]) {
      expect(() => parseFlags('scratchbird', argv)).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
    }
  })
})
