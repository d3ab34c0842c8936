// Credentials of the client programs (scratchbird_cli, scratchbird_backup; issue 18 item 2):
// --user NAME (or SCRATCHBIRD_USER) with the password from --password-file FILE (its first line)
// or SCRATCHBIRD_PASSWORD — never from the command line, where other users of the machine could
// read it. Sent as HTTP Basic; no user: no header (a node without users yet, or security.auth trust).
import { readFileSync } from 'node:fs'
import { messageOf, ScratchBirdError } from '../core/errors'

export const USER_ENV = 'SCRATCHBIRD_USER'
export const PASSWORD_ENV = 'SCRATCHBIRD_PASSWORD'

/** The Authorization header the flags and environment ask for ({} when no user is given). */
/** `flags`: args.ts ParsedFlags (not imported: programs.ts, which args.ts reads, imports this file's flag table). */
export function authHeaders (flags: Readonly<Record<string, string | boolean | undefined>>, env: NodeJS.ProcessEnv): Record<string, string> {
  const user = typeof flags.user === 'string' ? flags.user : env[USER_ENV]
  if (user === undefined || user === '') return {}
  let password: string | undefined
  if (typeof flags['password-file'] === 'string') {
    try { password = readFileSync(flags['password-file'], 'utf8').split('\n')[0]!.replace(/\r$/, '') } catch (e) {
      throw new ScratchBirdError('SB_BAD_ARGUMENT', `--password-file: cannot read ${flags['password-file']}: ${messageOf(e)}`)
    }
  } else {
    password = env[PASSWORD_ENV]
  }
  if (password === undefined) throw new ScratchBirdError('SB_BAD_ARGUMENT', `--user ${user}: no password: give --password-file FILE or set ${PASSWORD_ENV}`)
  if (user.includes(':')) throw new ScratchBirdError('SB_BAD_ARGUMENT', '--user: a user name cannot contain \':\' (HTTP Basic)')
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` }
}

export const CREDENTIAL_FLAGS = [
  { name: 'user', value: 'NAME', help: `user to authenticate as (default: $${USER_ENV}); the password comes from --password-file or $${PASSWORD_ENV}` },
  { name: 'password-file', value: 'FILE', help: 'file whose first line is the password of --user' }
] as const
