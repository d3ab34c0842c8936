import type { Server } from 'node:http'
import type { Socket } from 'node:net'
import type { Clock } from '../core/clock'

// Kept-alive connections through a stall of this process (grey failures, issue 21 item 3).
//
// When the process is stopped (SIGSTOP, a long GC pause, a stalled VM) clients keep sending
// requests on their kept-alive connections; the bytes wait in the kernel. On resume, Node runs
// expired timers BEFORE it polls sockets, so the keep-alive timeout of every idle connection
// fires first and destroys the socket with a request sitting unread in it: the client sees a
// reset for a request it sent to a server that was merely slow. A StallWatch notices the stall
// (its own interval timer came far too late) and the servers' 'timeout' handler then re-arms the
// keep-alive timeout instead of closing: the poll phase right after reads the queued request
// (which clears the timeout), and a connection that really is idle is closed one timeout later.
//
// Both orders of the two expired timers are covered: if the socket's timer runs before the
// watch's, the watch's last beat is itself too old (`stalledRecently` checks both).

/** A beat this much later than its period means the process did not run meanwhile. */
export const STALL_MS = 1000
/** How long after a stall kept-alive timeouts are re-armed rather than honoured. */
export const STALL_GRACE_MS = 2000

/** The decision, pure: has this process stalled just now (or is it still in a stall's aftermath)? */
export function stalledRecently (now: number, lastBeat: number, periodMs: number, resumedAt: number | null): boolean {
  return now - lastBeat > periodMs + STALL_MS || (resumedAt !== null && now - resumedAt < STALL_GRACE_MS)
}

export class StallWatch {
  private lastBeat: number
  private resumedAt: number | null = null
  private timer: NodeJS.Timeout | null = null
  /** Stalls seen (for a log line or a metric). */
  stalls = 0

  constructor (private readonly clock: Clock, readonly periodMs = 250) {
    this.lastBeat = clock.monotonic()
  }

  start (): void {
    this.lastBeat = this.clock.monotonic()
    this.timer ??= setInterval(() => { this.beat() }, this.periodMs).unref()
  }

  stop (): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }

  /** The interval's callback (also callable by tests). */
  beat (): void {
    const now = this.clock.monotonic()
    if (now - this.lastBeat > this.periodMs + STALL_MS) { this.resumedAt = now; this.stalls++ }
    this.lastBeat = now
  }

  stalledRecently (): boolean {
    return stalledRecently(this.clock.monotonic(), this.lastBeat, this.periodMs, this.resumedAt)
  }
}

/**
 * Installs the server's 'timeout' handler (Node then leaves the socket to it): a kept-alive
 * connection whose timeout fires right after a stall gets its timeout re-armed; otherwise it is
 * closed, as Node would have done.
 */
export function keepConnectionsThroughStalls (server: Server, watch: StallWatch): void {
  server.on('timeout', (socket: Socket) => {
    if (watch.stalledRecently() && !socket.destroyed) {
      socket.setTimeout(server.keepAliveTimeout)
      return
    }
    socket.destroy()
  })
}
