import { parseArgs } from 'node:util'
import { ScratchBirdError, messageOf } from '../core/errors'
import { PROGRAMS, type FlagInfo, type ProgramInfo, type ProgramName } from './programs'

// Command-line parsing for every program, derived from the flag table in programs.ts.

export type ParsedFlags = Record<string, string | boolean | undefined>

/** Flags only: a program taking no positional arguments refuses them. */
export function parseFlags (program: ProgramName, argv: string[]): ParsedFlags {
  const { flags, positionals } = parseCommandLine(program, argv)
  if (positionals.length > 0 && (PROGRAMS[program] as ProgramInfo).args === undefined) {
    throw new ScratchBirdError('SB_BAD_ARGUMENT', `${program}: unexpected argument '${positionals[0]!}' (see --help)`)
  }
  return flags
}

/** Flags and positional arguments (programs whose table entry has `args`, e.g. `audit verify FILE`). */
export function parseCommandLine (program: ProgramName, argv: string[]): { flags: ParsedFlags, positionals: string[] } {
  const options: Record<string, { type: 'string' | 'boolean', short?: string }> = {}
  for (const f of PROGRAMS[program].flags as readonly FlagInfo[]) {
    options[f.name] = { type: f.value ? 'string' : 'boolean', ...(f.short ? { short: f.short } : {}) }
  }
  try {
    const { values, positionals } = parseArgs({ args: argv, options, strict: true, allowPositionals: true })
    return { flags: values as ParsedFlags, positionals }
  } catch (e) {
    if (e instanceof ScratchBirdError) throw e
    throw new ScratchBirdError('SB_BAD_ARGUMENT', `${program}: ${messageOf(e)} (see --help)`)
  }
}
