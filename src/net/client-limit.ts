// node.max_connections_per_client: how many connections one client address may hold open on a
// client listener (the HTTP API, the PostgreSQL protocol) at once, so one client — a runaway pool,
// a loop that never closes, a slowloris — cannot take every socket of the node. Counted by IP
// address (not port: a client's connections come from many ports); decided without I/O, the
// listeners (http-server.ts, pgwire/server.ts) refuse with SB_TOO_MANY_CONNECTIONS.
import { ScratchBirdError } from '../core/errors'

export class PerClientLimit {
  private readonly open = new Map<string, number>()

  /** `max`: connections per client address; 0: no limit. `onRefuse`: told of each refusal (the node's metric). */
  constructor (readonly max: number, private readonly onRefuse?: () => void) {}

  /** Counts a new connection of `address`; false (nothing counted) when it already holds `max`. */
  admit (address: string): boolean {
    const key = clientKey(address)
    const n = this.open.get(key) ?? 0
    if (this.max > 0 && n >= this.max) { this.onRefuse?.(); return false }
    this.open.set(key, n + 1)
    return true
  }

  /** An admitted connection of `address` closed. */
  release (address: string): void {
    const key = clientKey(address)
    const n = this.open.get(key) ?? 0
    // Entries leave with their last connection: the map holds only clients with open sockets.
    if (n <= 1) this.open.delete(key)
    else this.open.set(key, n - 1)
  }

  /** Connections `address` holds (for tests and logs). */
  count (address: string): number { return this.open.get(clientKey(address)) ?? 0 }

  refusal (address: string): ScratchBirdError {
    return new ScratchBirdError('SB_TOO_MANY_CONNECTIONS', `too many connections from ${clientKey(address)} (at most ${this.max}: node.max_connections_per_client); close some`, { client: clientKey(address), max: this.max })
  }
}

/** One key per client host: an IPv4 client seen on a dual-stack socket (::ffff:a.b.c.d) is a.b.c.d. */
export function clientKey (address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address
}
