import type { SeededRng } from '../../src/core/rng'

// A seeded simulated network for the cluster state machines (DESIGN §10, FoundationDB-style):
// one global clock advanced by a discrete-event queue, hosts with their own clock offset, message
// delay, loss, partitions, and hosts that stop and start. Every random choice comes from the one
// SeededRng, and events at the same instant run in scheduling order, so a seed replays exactly.

export interface SimNetworkOptions {
  /** One-way delay is uniform in [minDelayMs, maxDelayMs]. */
  minDelayMs: number
  maxDelayMs: number
  /** Chance that a message is dropped. */
  lossProbability: number
}

/** Receives a message; `localNow` is the receiving host's clock. */
export type SimHandler<M> = (fromAddress: string, msg: M, localNow: number) => void

interface Host<M> {
  clockOffsetMs: number
  up: boolean
  /** Bumped on every stop: timers and handlers of an earlier life do nothing. */
  life: number
  handler: SimHandler<M>
}

interface Scheduled { at: number, seq: number, run: () => void }

export interface SimNetworkStats { sent: number, delivered: number, lost: number, blocked: number }

export class SimNetwork<M> {
  /** Global time (ms since the start of the simulation). */
  now = 0
  readonly stats: SimNetworkStats = { sent: 0, delivered: 0, lost: 0, blocked: 0 }
  private readonly queue: Scheduled[] = []
  private seq = 0
  private readonly hosts = new Map<string, Host<M>>()
  /** address → partition group; hosts in different groups cannot talk. null: no partition. */
  private groups: Map<string, number> | null = null

  constructor (readonly rng: SeededRng, readonly options: SimNetworkOptions) {}

  /** Adds a host (up) or starts a stopped one with a new handler (a new process). */
  start (address: string, clockOffsetMs: number, handler: SimHandler<M>): void {
    const h = this.hosts.get(address)
    if (h === undefined) { this.hosts.set(address, { clockOffsetMs, up: true, life: 0, handler }); return }
    if (h.up) throw new Error(`sim: ${address} is already up`)
    Object.assign(h, { clockOffsetMs, up: true, handler })
  }

  /** The process stops: in-flight messages to it are dropped, its timers die. */
  stop (address: string): void {
    const h = this.host(address)
    h.up = false
    h.life++
  }

  isUp (address: string): boolean { return this.hosts.get(address)?.up ?? false }

  /** The host's local clock: global time + its offset. */
  localTime (address: string): number { return this.now + this.host(address).clockOffsetMs }

  /** Hosts in different groups cannot talk until heal(); hosts in no group talk to everyone. */
  partition (groups: readonly (readonly string[])[]): void {
    this.groups = new Map()
    groups.forEach((g, i) => { for (const a of g) this.groups!.set(a, i) })
  }

  heal (): void { this.groups = null }

  /** Sends from a host; the message may be lost, blocked or delayed. */
  send (from: string, to: string, msg: M): void {
    if (!this.isUp(from)) return
    this.stats.sent++
    if (this.blocked(from, to)) { this.stats.blocked++; return }
    if (this.rng.next() < this.options.lossProbability) { this.stats.lost++; return }
    const { minDelayMs, maxDelayMs } = this.options
    const delay = minDelayMs + this.rng.next() * (maxDelayMs - minDelayMs)
    this.after(delay, () => {
      const h = this.hosts.get(to)
      // Checked again on arrival: the partition or the stop may have happened in flight.
      if (h === undefined || !h.up || this.blocked(from, to)) { this.stats.blocked++; return }
      this.stats.delivered++
      h.handler(from, msg, this.now + h.clockOffsetMs)
    })
  }

  /** Calls fn(localNow) every periodMs starting at global time firstAt, while this life of the host lasts. */
  every (address: string, firstAt: number, periodMs: number, fn: (localNow: number) => void): void {
    const h = this.host(address)
    const life = h.life
    const run = (): void => {
      if (!h.up || h.life !== life) return
      fn(this.now + h.clockOffsetMs)
      this.after(periodMs, run)
    }
    this.at(firstAt, run)
  }

  after (delayMs: number, run: () => void): void { this.at(this.now + delayMs, run) }

  at (time: number, run: () => void): void {
    this.push({ at: Math.max(time, this.now), seq: this.seq++, run })
  }

  /** Runs events up to and including global time `t`, then sets now = t. */
  runUntil (t: number): void {
    while (this.queue.length > 0 && this.queue[0]!.at <= t) {
      const e = this.pop()
      this.now = e.at
      e.run()
    }
    this.now = Math.max(this.now, t)
  }

  private blocked (a: string, b: string): boolean {
    if (this.groups === null) return false
    const ga = this.groups.get(a)
    const gb = this.groups.get(b)
    return ga !== undefined && gb !== undefined && ga !== gb
  }

  private host (address: string): Host<M> {
    const h = this.hosts.get(address)
    if (h === undefined) throw new Error(`sim: no host ${address}`)
    return h
  }

  // Binary min-heap on (at, seq).
  private push (e: Scheduled): void {
    const q = this.queue
    q.push(e)
    let i = q.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!before(q[i]!, q[p]!)) break
      const t = q[i]!; q[i] = q[p]!; q[p] = t
      i = p
    }
  }

  private pop (): Scheduled {
    const q = this.queue
    const top = q[0]!
    const last = q.pop()!
    if (q.length > 0) {
      q[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < q.length && before(q[l]!, q[m]!)) m = l
        if (r < q.length && before(q[r]!, q[m]!)) m = r
        if (m === i) break
        const t = q[i]!; q[i] = q[m]!; q[m] = t
        i = m
      }
    }
    return top
  }
}

function before (a: Scheduled, b: Scheduled): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}
