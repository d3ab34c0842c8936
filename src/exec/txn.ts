// A SQL transaction spanning shards (DESIGN §6 "Transactions across shards"). A shard joins when a
// statement first reads or writes there (BEGIN with the transaction's one xid, so a 2PC
// participant list is just the shards). At the end: shards that only read roll back (nothing to
// make durable), one written shard commits locally (one TIP commit), several go through
// two-phase commit with its durable decision record.
//
// Writes to leaderless_quorum tables (in a cluster) are not sent at all before COMMIT: they wait in
// `quorumWrites` (quorum-txn.ts) and COMMIT ships them as one quorum batch per shard under one XID.
// A transaction writes either leaderless tables or other tables, never both
// (SB_FEATURE_NOT_SUPPORTED): the MGA commit and the quorum batches could not commit atomically.
import { commitTwoPhase } from '../cluster/twopc'
import { ScratchBirdError, isScratchBirdError } from '../core/errors'
import { nextHlcTs } from '../storage/hlc-ts'
import type { TableInfo } from '../catalog/catalog'
import type { RowWrite } from '../storage/engine'
import type { HlcTs, Isolation, Xid } from '../storage/types'
import type { ExecEnv } from './env'
import { QuorumTxnBuffer } from './quorum-txn'
import type { ShardWrites } from './write-rows'

export class SqlTxn {
  private xid: Promise<Xid> | null = null
  private readonly joined = new Map<number, Promise<Xid>>()
  private readonly written = new Set<number>()
  /** Buffered writes of leaderless_quorum tables, shipped at COMMIT. */
  readonly quorumWrites = new QuorumTxnBuffer()
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
    if (this.quorumWrites.size > 0) throw mixedWrites()
    const xid = await this.join(shard)
    this.written.add(shard)
    return (await this.env.request('WRITE', { shard, xid, writes })).affected
  }

  async commit (): Promise<void> {
    if (this.ended) return
    this.ended = true
    await this.commitMga()
    if (this.quorumWrites.size > 0) {
      // The versions are stamped now (quorum-txn.ts); the buffer is dropped whatever the outcome.
      const batches = this.quorumWrites.batches(this.env)
      this.quorumWrites.clear()
      await this.env.quorum!.writeBatches(batches)
    }
  }

  /** Buffers one statement's writes of a leaderless_quorum table (shipped at COMMIT). */
  bufferQuorum (table: TableInfo, writes: ShardWrites): void {
    if (this.written.size > 0) throw mixedWrites()
    this.quorumWrites.add(table, writes, this.env.quorum!.maxBatchBytes)
  }

  private async commitMga (): Promise<void> {
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
    this.quorumWrites.clear()
    if (this.xid === null) return
    const xids = await Promise.allSettled([...this.joined.values()])
    await Promise.allSettled(this.shards.map((s, i) => {
      const r = xids[i]!
      return r.status === 'fulfilled' ? this.env.request('ROLLBACK', { shard: s, xid: r.value }) : Promise.resolve()
    }))
  }
}

function mixedWrites (): ScratchBirdError {
  return new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED',
    'a transaction cannot write both leaderless_quorum tables and other tables: leaderless writes are shipped by quorum at COMMIT and cannot commit atomically with the others; use separate transactions')
}

/** Per-session SQL state (the HTTP session registry holds one per session). */
export class SessionState {
  txn: SqlTxn | null = null
}
