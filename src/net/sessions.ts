import type { Rng } from '../core/rng'
import { randomUuidV4 } from '../core/uuid'
import { ScratchBirdError } from '../core/errors'

// Client sessions of the HTTP API (POST /v1/sessions, then header X-ScratchBird-Session): they
// carry an interactive transaction across requests. Sans-I/O: time comes in as arguments; the
// server's shell calls expire(now) on a timer and rolls back what it returns. A session runs one
// request at a time (a second concurrent one is refused), and their number is bounded.

export const MAX_SESSIONS = 10_000

export interface Session<S> {
  readonly id: string
  lastUsed: number
  busy: boolean
  /** The SQL layer's per-session state (open transaction …). */
  state: S
  /** Who created it (net/sql-api.ts ownerOf); only requests of the same owner may use or close it. */
  readonly owner: string
}

export class SessionRegistry<S> {
  private readonly sessions = new Map<string, Session<S>>()

  constructor (private readonly idleTimeoutMs: number, private readonly newState: () => S, private readonly rng: Rng, private readonly max = MAX_SESSIONS) {}

  get size (): number { return this.sessions.size }
  /** Every open session's state (gauges read them at scrape time). */
  * states (): Iterable<S> { for (const s of this.sessions.values()) yield s.state }

  create (now: number, owner = ''): Session<S> {
    if (this.sessions.size >= this.max) {
      throw new ScratchBirdError('SB_TOO_MANY_SESSIONS', `too many open sessions (at most ${this.max}); close idle ones`, { max: this.max })
    }
    const s: Session<S> = { id: randomUuidV4(this.rng), lastUsed: now, busy: false, state: this.newState(), owner }
    this.sessions.set(s.id, s)
    return s
  }

  /** Marks the session busy for one request; release() ends it. */
  acquire (id: string, now: number, owner = ''): Session<S> {
    const s = this.sessions.get(id)
    // Another user's session answers as a missing one: its id tells a stranger nothing.
    if (!s || s.owner !== owner) throw new ScratchBirdError('SB_SESSION_NOT_FOUND', `no session ${id} (it may have timed out and rolled back)`, { session: id })
    if (s.busy) throw new ScratchBirdError('SB_SESSION_BUSY', `session ${id} is running another request`, { session: id })
    s.busy = true
    s.lastUsed = now
    return s
  }

  release (s: Session<S>, now: number): void {
    s.busy = false
    s.lastUsed = now
  }

  /** `owner` undefined: whoever owns it (the node itself, a closing PostgreSQL connection). */
  close (id: string, owner?: string): Session<S> | undefined {
    const s = this.sessions.get(id)
    if (s === undefined || (owner !== undefined && s.owner !== owner)) return undefined
    this.sessions.delete(id)
    return s
  }

  /** Removes and returns the sessions idle for longer than the timeout (the caller rolls them back). */
  expire (now: number): Session<S>[] {
    const out: Session<S>[] = []
    for (const s of this.sessions.values()) {
      if (!s.busy && now - s.lastUsed > this.idleTimeoutMs) out.push(s)
    }
    for (const s of out) this.sessions.delete(s.id)
    return out
  }
}
