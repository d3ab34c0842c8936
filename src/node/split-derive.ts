import type { Catalog } from '../catalog/catalog'
import { basePage, DERIVE_PAGE_ROWS, DERIVE_TAIL_BYTES, DERIVE_TAIL_ENTRIES, deriveStart, nextDeriveStep, tailBatch } from '../cluster/split-derive'
import { ScratchBirdError } from '../core/errors'
import { asShardId, type ShardId } from '../core/ids'
import type { ShardOpName, ShardReplies, ShardRequests } from '../shard/protocol/ops'
import type { DeriveProgress } from '../storage/split-derive'
import { decodeTuple } from '../storage/keys'
import { childSideOf, deriveRelations } from './split-row-side'

// The thin I/O shell of a split's COPY on this node (cluster/split-derive.ts holds the rules):
// child s + n is derived from this node's own copy of parent s through its own workers — the
// local ops SPLIT_PIN, SPLIT_SCAN, REPL_LOG_READ, SPLIT_DERIVE_APPLY and SPLIT_DERIVE_STATE — and
// nothing crosses the network. Each step reads the child's recorded progress, does what
// nextDeriveStep says and applies the result with the progress it leads to in one batch, so the
// shell keeps no state: a step that fails (a worker restarted, a catalog not yet received) is
// simply run again and resumes. Not built here (later steps of shard-split.ts): who starts a
// derive (the decider's intent), the switch, cleanup.

export interface DeriveDeps {
  /** This node's shard workers (ShardWorkers): the split ops are local. */
  readonly workers: {
    request<K extends ShardOpName>(op: K, req: ShardRequests[K]): Promise<ShardReplies[K]>
    openShard (shard: ShardId): Promise<boolean>
  }
  readonly catalog: () => Catalog
  /** Rows per base-copy page (default DERIVE_PAGE_ROWS; tests use small pages). */
  readonly pageRows?: number
}

export interface DeriveStepReport {
  /** The child's progress after the step. */
  readonly progress: DeriveProgress
  /** The step read the parent's log to its end: nothing was left to apply. */
  readonly caughtUp: boolean
  /** Child row versions the step wrote (upserts, and deletes of keys the child held). */
  readonly written: number
}

/** The child of `parent` when `shards` shards become twice as many. */
export function childOf (parent: ShardId, shards: number): ShardId {
  if (!Number.isInteger(shards) || shards < 1 || parent >= shards) throw new ScratchBirdError('SB_BAD_ARGUMENT', `shard ${parent} is not a shard of ${shards}`, { shard: parent, shards })
  return asShardId(parent + shards)
}

/** One step of the derive of `parent + shards` from `parent` on this node (see the top). */
export async function deriveStep (d: DeriveDeps, parent: ShardId, shards: number): Promise<DeriveStepReport> {
  const child = childOf(parent, shards)
  await d.workers.openShard(child)
  const { progress } = await d.workers.request('SPLIT_DERIVE_STATE', { shard: child, clear: false })
  if (progress !== null && (progress.parent !== parent || progress.shards !== shards)) {
    throw new ScratchBirdError('SB_SPLIT_PROGRESS_MISMATCH', `shard ${child} records a derive from shard ${progress.parent} of ${progress.shards}, not from shard ${parent} of ${shards}`,
      { shard: child, recorded: `${progress.parent}/${progress.shards}`, expected: `${parent}/${shards}` })
  }
  const step = nextDeriveStep(progress)
  // Reached the parent's switch entry: the child is final (its pin may be released already).
  if (step.kind === 'switched') return { progress: progress!, caughtUp: true, written: 0 }
  const side = childSideOf(d.catalog, parent, shards)
  // Taken at the start, asked again at every step (it answers the pin held): a log cut back, or
  // a pin released and taken again, since the start means the child may hold rows it must not.
  const relations = step.kind === 'pin' ? deriveRelations(d.catalog(), parent, shards) : []
  let { pin } = await d.workers.request('SPLIT_PIN', { shard: parent, pin: true })
  if (step.kind === 'pin' && pin?.cut === true) {
    // A pin left by an earlier derive whose log was cut since: this one starts from a fresh L0.
    await d.workers.request('SPLIT_PIN', { shard: parent, pin: false })
    pin = (await d.workers.request('SPLIT_PIN', { shard: parent, pin: true })).pin
  }
  if (pin === null || (progress !== null && (pin.cut || pin.l0 !== progress.l0))) {
    throw new ScratchBirdError('SB_SPLIT_COPY_STALE',
      `cannot go on deriving shard ${child} from shard ${parent}: ${pin?.cut === true ? 'the parent\'s log was cut back since the copy began' : 'the parent\'s log pin was released since the copy began'}; the child must be derived again from empty`,
      { shard: parent, child })
  }
  if (step.kind === 'pin') {
    const to = deriveStart(parent, shards, pin.l0, relations)
    await d.workers.request('SPLIT_DERIVE_APPLY', { shard: child, from: null, to, entries: [] })
    return { progress: to, caughtUp: false, written: 0 }
  }
  const from = progress!
  if (step.kind === 'base') {
    const after = step.after === null ? null : decodeTuple(step.after)
    const limit = d.pageRows ?? DERIVE_PAGE_ROWS
    const { rows } = await d.workers.request('SPLIT_SCAN', { shard: parent, tableId: step.tableId, after, limit })
    const page = basePage(from, rows, limit, deriveRelations(d.catalog(), parent, shards), side)
    const { written } = await d.workers.request('SPLIT_DERIVE_APPLY', { shard: child, from, to: page.to, entries: page.entries })
    return { progress: page.to, caughtUp: false, written }
  }
  const { entries } = await d.workers.request('REPL_LOG_READ', { shard: parent, fromLsn: step.fromLsn, limit: DERIVE_TAIL_ENTRIES, maxBytes: DERIVE_TAIL_BYTES })
  if (entries.length === 0) return { progress: from, caughtUp: true, written: 0 }
  const batch = tailBatch(from, entries, side)
  const { written } = await d.workers.request('SPLIT_DERIVE_APPLY', { shard: child, from, to: batch.to, entries: batch.entries })
  return { progress: batch.to, caughtUp: false, written }
}

/** Steps until the child has applied the parent's whole log as it stands (the base copy first). */
export async function deriveUntilCaughtUp (d: DeriveDeps, parent: ShardId, shards: number, maxSteps = Infinity): Promise<DeriveProgress> {
  for (let i = 0; i < maxSteps; i++) {
    const r = await deriveStep(d, parent, shards)
    if (r.caughtUp) return r.progress
  }
  throw new ScratchBirdError('SB_INTERNAL', `the derive of shard ${parent + shards} did not catch up in ${maxSteps} steps`, { shard: parent })
}

/** End the derive (done or cancelled): release the parent's log pin and the child's progress
 *  (its rows stay: the switch adopts them, a cancel drops the child). Answers the progress it had. */
export async function endDerive (d: DeriveDeps, parent: ShardId, shards: number): Promise<DeriveProgress | null> {
  const child = childOf(parent, shards)
  await d.workers.request('SPLIT_PIN', { shard: parent, pin: false })
  await d.workers.openShard(child)
  return (await d.workers.request('SPLIT_DERIVE_STATE', { shard: child, clear: true })).progress
}
