// A SQL transaction spanning shards (DESIGN §6 "Transactions across shards"). A shard joins when a
// statement first reads or writes there (BEGIN with the transaction's one xid, so a 2PC
// participant list is just the shards). At the end: shards that only read roll back (nothing to
// make durable), one written shard commits locally (one TIP commit), several go through
// two-phase commit with its durable decision record.
import { commitTwoPhase } from '../../cluster/twopc'
import { ScratchBirdError, isScratchBirdError } from '../../core/errors'
import { nextHlcTs } from '../../server/hlc-ts'
import type { RowWrite } from '../../storage/engine'
import type { HlcTs, Isolation, Xid } from '../../storage/types'
import type { ExecEnv } from './env'

export class SqlTxn {
  private xid: Promise<Xid> | null = null
  private readonly joined = new Map<number, Promise<Xid>>()
  private readonly written = new Set<number>()
  /** A statement failed: only ROLLBACK is accepted (PostgreSQL's aborted-transaction state). */
  failed = false
  private ended = false

  constructor (
    private readonly env: ExecEnv,
    readonly isolation: Isolation,
    readonly explicit: boolean,
    readonly startHlc: HlcTs = nextHlcTs(env.hlc)
  ) {}

  get shards (): number[] { return [...this.joined.keys()] }
  get writtenShards (): number[] { return [...this.written] }

  /** The transaction's xid on `shard`, BEGINning there first if needed. */
  join (shard: number): Promise<Xid> {
    let p = this.joined.get(shard)
    if (p !== undefined) return p
    const base = { shard, isolation: this.isolation, startHlc: this.startHlc }
    if (this.xid === null) {
      // The first shard allocates the xid (node-wide counter); every other shard reuses it.
      p = this.env.request('BEGIN', base).then(r => r.xid)
      this.xid = p
    } else {
      p = this.xid.then(xid => this.env.request('BEGIN', { ...base, xid }).then(r => r.xid))
    }
    this.joined.set(shard, p)
    return p
  }

  async write (shard: number, writes: RowWrite[]): Promise<boolean[]> {
    const xid = await this.join(shard)
    this.written.add(shard)
    return (await this.env.request('WRITE', { shard, xid, writes })).affected
  }

  async commit (): Promise<void> {
    if (this.ended) return
    this.ended = true
    if (this.xid === null) return
    const xid = await this.xid
    const readOnly = this.shards.filter(s => !this.written.has(s))
    const written = this.writtenShards
    await Promise.all(readOnly.map(s => this.env.request('ROLLBACK', { shard: s, xid })))
    if (written.length === 1) {
      await this.env.request('COMMIT', { shard: written[0]!, xid, commitHlc: nextHlcTs(this.env.hlc) })
    } else if (written.length > 1) {
      const out = await commitTwoPhase(this.env.twoPhase, xid, written, () => nextHlcTs(this.env.hlc))
      if (!out.committed) {
        if (isScratchBirdError(out.error)) throw out.error
        throw new ScratchBirdError('SB_INTERNAL', `two-phase commit failed: ${String(out.error)}`)
      }
    }
  }

  /** Rolls back every joined shard; never throws (a shard that cannot answer forgets at restart). */
  async rollback (): Promise<void> {
    if (this.ended) return
    this.ended = true
    if (this.xid === null) return
    const xids = await Promise.allSettled([...this.joined.values()])
    await Promise.allSettled(this.shards.map((s, i) => {
      const r = xids[i]!
      return r.status === 'fulfilled' ? this.env.request('ROLLBACK', { shard: s, xid: r.value }) : Promise.resolve()
    }))
  }
}

/** Per-session SQL state (the HTTP session registry holds one per session). */
export class SessionState {
  txn: SqlTxn | null = null
}
