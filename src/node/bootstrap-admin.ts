// The bootstrap administrator (security.bootstrap_admin, issue 18 item 2): created as a superuser
// when the catalog holds no user, through the same path as a client's CREATE USER — alone, the
// executor installs it here; in a cluster it goes to the catalog coordinator, so every node gets
// the same user once (another node that created it first answers SB_DUPLICATE_USER, which ends
// the attempt like success). Retried on a timer while it fails (coordinator unreachable …); until
// it lands the authenticator accepts the configured credentials from memory.
import type { Logger } from 'pino'
import type { Catalog } from '../catalog/catalog'
import { describe, isScratchBirdError, messageOf } from '../core/errors'
import type { Rng } from '../core/rng'
import type { StatementResult } from '../exec/result'
import type { BootstrapAdmin } from '../security/authenticator'
import { encodeVerifier, newScramVerifier } from '../security/scram-verifier'
import type { CreateUserStatement } from '../sql/ast'

export const BOOTSTRAP_RETRY_MS = 1000

export function bootstrapStatement (b: BootstrapAdmin, rng: Rng): CreateUserStatement {
  return { kind: 'create_user', pos: { line: 1, column: 1, offset: 0 }, name: b.name, password: encodeVerifier(newScramVerifier(b.password, rng)), role: 'superuser' }
}

export interface BootstrapDeps {
  readonly admin: BootstrapAdmin
  readonly catalog: () => Catalog
  /** Runs the statement (the executor's DDL path: local, or the catalog coordinator). */
  readonly run: (s: CreateUserStatement) => Promise<StatementResult> | StatementResult
  readonly rng: Rng
  readonly log: Logger
}

export class BootstrapAdminShell {
  private timer: NodeJS.Timeout | null = null
  private stopped = false

  constructor (private readonly d: BootstrapDeps) {}

  /** Creates the user now unless users exist; retries in the background on failure. */
  async start (): Promise<void> {
    await this.attempt()
  }

  stop (): void {
    this.stopped = true
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }

  private async attempt (): Promise<void> {
    this.timer = null
    if (this.stopped || this.d.catalog().users.length > 0) return
    const name = this.d.admin.name
    try {
      await this.d.run(bootstrapStatement(this.d.admin, this.d.rng))
      this.d.log.info({ user: name }, `bootstrap administrator "${name}" created (superuser, security.bootstrap_admin)`)
    } catch (e) {
      if (isScratchBirdError(e, 'SB_DUPLICATE_USER')) return
      this.d.log.warn({ err: describe(e), user: name }, `creating the bootstrap administrator "${name}" failed: ${messageOf(e)}; retrying in ${BOOTSTRAP_RETRY_MS} ms`)
      if (!this.stopped) this.timer = setTimeout(() => { void this.attempt() }, BOOTSTRAP_RETRY_MS).unref()
    }
  }
}
