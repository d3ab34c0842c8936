// A background round run every `everyMs`, never two at once: a round still running when the timer
// fires makes that tick skip (a fill may take many seconds; queueing ticks behind it would only
// run them back to back). stop() stops the timer and waits for the round in flight, so the caller
// can close what the round uses; `stopped` lets a long round end early. The timer is unref'd: it
// never keeps the process alive. (The leaderless bootstrap and the leaderless move fills.)
export class TickLoop {
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> | null = null
  private halted = false

  constructor (private readonly everyMs: number, private readonly round: () => Promise<void>) {}

  /** stop() was called: a round in flight should end at its next step. */
  get stopped (): boolean { return this.halted }

  start (): void {
    this.timer = setInterval(() => { if (this.running === null) this.running = this.round().finally(() => { this.running = null }) }, this.everyMs)
    this.timer.unref()
  }

  async stop (): Promise<void> {
    this.halted = true
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    await this.running
  }
}
