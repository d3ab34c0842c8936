import { parseArgs } from 'node:util'
import { ScratchBirdError, messageOf } from '../core/errors'
import { PROGRAMS, type FlagInfo, type ProgramName } from './programs'

// Command-line parsing for every program, derived from the flag table in programs.ts.

export type ParsedFlags = Record<string, string | boolean | undefined>

export function parseFlags (program: ProgramName, argv: string[]): ParsedFlags {
  const options: Record<string, { type: 'string' | 'boolean', short?: string }> = {}
  for (const f of PROGRAMS[program].flags as readonly FlagInfo[]) {
    options[f.name] = { type: f.value ? 'string' : 'boolean', ...(f.short ? { short: f.short } : {}) }
  }
  try {
    const { values, positionals } = parseArgs({ args: argv, options, strict: true, allowPositionals: true })
    if (positionals.length > 0) {
      throw new ScratchBirdError('SB_BAD_ARGUMENT', `${program}: unexpected argument '${positionals[0]!}' (see --help)`)
    }
    return values as ParsedFlags
  } catch (e) {
    if (e instanceof ScratchBirdError) throw e
    throw new ScratchBirdError('SB_BAD_ARGUMENT', `${program}: ${messageOf(e)} (see --help)`)
  }
}
