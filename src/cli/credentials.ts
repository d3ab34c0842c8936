// Credentials of the client programs (scratchbird_cli, scratchbird_backup; issue 18 item 2):
// --user NAME (or SCRATCHBIRD_USER) with the password from --password-file FILE (its first line)
// or SCRATCHBIRD_PASSWORD, sent as HTTP Basic; or a bearer token (CREATE TOKEN) from
// --token-file FILE (its first line) or SCRATCHBIRD_TOKEN, sent as `Authorization: Bearer`.
// Never a password or token on the command line itself: any user of the machine can read another
// process's arguments (ps, /proc/PID/cmdline), and shells keep them in their history.
// No user and no token: no header (a node without users yet, or security.auth trust).
import { readFileSync } from 'node:fs'
import { messageOf, ScratchBirdError } from '../core/errors'

export const USER_ENV = 'SCRATCHBIRD_USER'
export const PASSWORD_ENV = 'SCRATCHBIRD_PASSWORD'
export const TOKEN_ENV = 'SCRATCHBIRD_TOKEN'

/** The first line of a secret file (without its line end), or a coded error naming the flag. */
function firstLine (flag: string, file: string): string {
  try { return readFileSync(file, 'utf8').split('\n')[0]!.replace(/\r$/, '') } catch (e) {
    throw new ScratchBirdError('SB_BAD_ARGUMENT', `--${flag}: cannot read ${file}: ${messageOf(e)}`)
  }
}

/** The Authorization header the flags and environment ask for ({} when neither a user nor a token is given). */
/** `flags`: args.ts ParsedFlags (not imported: programs.ts, which args.ts reads, imports this file's flag table). */
export function authHeaders (flags: Readonly<Record<string, string | boolean | undefined>>, env: NodeJS.ProcessEnv): Record<string, string> {
  const tokenFile = typeof flags['token-file'] === 'string' ? flags['token-file'] : undefined
  // Explicit flags win over the environment; a flag of each kind at once is ambiguous.
  if (tokenFile !== undefined && (typeof flags.user === 'string' || typeof flags['password-file'] === 'string')) {
    throw new ScratchBirdError('SB_BAD_ARGUMENT', '--token-file and --user/--password-file exclude each other: give one way to sign in')
  }
  // Precedence: --token-file, then --user, then $SCRATCHBIRD_TOKEN, then $SCRATCHBIRD_USER.
  let token: string | undefined
  let from = ''
  if (tokenFile !== undefined) {
    token = firstLine('token-file', tokenFile).trim()
    from = `--token-file ${tokenFile}`
    if (token === '') throw new ScratchBirdError('SB_BAD_ARGUMENT', `${from}: the file's first line is empty`)
  } else if (typeof flags.user !== 'string' && (env[TOKEN_ENV] ?? '').trim() !== '') {
    token = env[TOKEN_ENV]!.trim()
    from = `$${TOKEN_ENV}`
  }
  if (token !== undefined) {
    // A header value cannot hold control characters or spaces: refuse here rather than send a broken request.
    if (!/^[\x21-\x7e]+$/.test(token)) throw new ScratchBirdError('SB_BAD_ARGUMENT', `the token in ${from} holds spaces or characters a token never has`)
    return { authorization: `Bearer ${token}` }
  }
  const user = typeof flags.user === 'string' ? flags.user : env[USER_ENV]
  if (user === undefined || user === '') return {}
  const password = typeof flags['password-file'] === 'string' ? firstLine('password-file', flags['password-file']) : env[PASSWORD_ENV]
  if (password === undefined) throw new ScratchBirdError('SB_BAD_ARGUMENT', `--user ${user}: no password: give --password-file FILE or set ${PASSWORD_ENV}`)
  if (user.includes(':')) throw new ScratchBirdError('SB_BAD_ARGUMENT', '--user: a user name cannot contain \':\' (HTTP Basic)')
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` }
}

export const CREDENTIAL_FLAGS = [
  { name: 'user', value: 'NAME', help: `user to authenticate as (default: $${USER_ENV}); the password comes from --password-file or $${PASSWORD_ENV}` },
  { name: 'password-file', value: 'FILE', help: 'file whose first line is the password of --user' },
  { name: 'token-file', value: 'FILE', help: `file whose first line is a bearer token from CREATE TOKEN (default: $${TOKEN_ENV}); never on the command line` }
] as const
