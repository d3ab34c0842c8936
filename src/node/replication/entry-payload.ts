import { type Codec, type CodecReader, type CodecWriter, versionedLowest } from '../../core/codec'
import { CODEC_VERSIONS } from '../../core/codec-versions'
import { messageOf, ScratchBirdError } from '../../core/errors'
import { asHlcTs, asXid } from '../../core/ids'
import type { ReplEntry, ReplMessage } from '../../cluster/replication/types'
import { checkControlEntry, type ControlEntry, type Mutation, type RawLogEntry, type TwoPhaseStep } from '../../storage/commit-log'
import { readRule, writeRule, type CleanupRule } from '../../storage/split-cleanup'
import { readRow, readVersionId, writeRow, writeVersionId } from '../../shard/protocol/parts'
import { checkTuple } from '../../storage/keys'

// What a data entry of the replicated log carries between the shard's engine and the machine
// (issue 14: the machine's log IS the commit log). The machine never opens a payload; the shell
// fills it from the engine's log tail (REPL_LOG_READ) on the primary and turns it back into the
// commit-log entry REPL_APPLY writes on a replica. The LSN and generation are the ReplEntry's own
// (never repeated in the payload), so a payload cannot claim another place in the log.
//
// v1: xid u64 · commitHlc u64 · mutations (count · (tableId u32 · pk blob (canonical tuple) ·
//     versionId[16] · row opt blob))
// v2: v1 · step u8 (0 a plain commit; 1 prepare, 2 commit of a prepared transaction, 3 abort:
//     the two-phase entries of commit-log.ts format 6). v1 still decodes, as a plain commit.
// v3: v2 · step 4 = a shard split's SWITCH entry (commit-log.ts control kind 3), then its shard
//     count n u32; xid and commitHlc are 0 and there are no mutations. It rides as data so the
//     replication machine (which never opens a payload) commits it like a commit, and REPL_APPLY
//     writes it back as the control entry it was on the primary.
// v4: v3 · a split switch's rule (storage/split-cleanup.ts writeRule, optional): where each
//     relation's keys go at 2n, so a replica applying the entry fences the same child-side writes
//     as its primary (storage/split-fence.ts). A v3 switch has none: its replica fences every write.
// Written in the lowest version that carries the entry (core/codec-versions.ts): a plain commit
// is v1, a two-phase step v2, a split switch v3, one with its rule v4 (so a replica of the
// previous release refuses that entry until it is upgraded: a split is not for a rolling upgrade).
// Anything malformed is SB_RPC_MALFORMED: an append carrying one is dropped whole (checkAppend)
// before the machine sees it.

const fail = (codec: string) => (why: string) => new ScratchBirdError('SB_RPC_MALFORMED', `malformed ${codec} payload: ${why}`)

interface Txn {
  xid: bigint
  commitHlc: bigint
  mutations: Mutation[]
  phase?: TwoPhaseStep | undefined
  splitSwitch?: number | undefined
  /** With splitSwitch: the fence's rule (v4). */
  splitRule?: CleanupRule | undefined
}

const STEPS: readonly TwoPhaseStep[] = ['prepare', 'commit', 'abort']

/** The first version with the two-phase step. */
const STEP_SINCE = 2
/** The first version with the split switch (step SPLIT_SWITCH_STEP). */
const SWITCH_SINCE = 3
/** The first version with a split switch's rule. */
const RULE_SINCE = 4
const SPLIT_SWITCH_STEP = 4

function writeTxn (w: CodecWriter, e: Txn, version: number): void {
  w.u64(e.xid)
  w.u64(e.commitHlc)
  w.array(e.mutations, m => { w.u32(m.tableId); w.blob(m.pkBytes); writeVersionId(w, m.versionId); writeRow(w, m.row) })
  if (e.splitSwitch !== undefined) {
    w.u8(SPLIT_SWITCH_STEP)
    w.u32(e.splitSwitch)
    if (version >= RULE_SINCE) w.opt(e.splitRule, r => writeRule(w, r))
    return
  }
  if (version >= STEP_SINCE) w.u8(e.phase === undefined ? 0 : STEPS.indexOf(e.phase) + 1)
}

function readTxn (r: CodecReader, version: number): Txn {
  const t = readTxnV1(r)
  if (version < STEP_SINCE) { checkXid(r, t); return t }
  const step = r.u8()
  if (step === SPLIT_SWITCH_STEP && version >= SWITCH_SINCE) {
    if (t.xid !== 0n || t.commitHlc !== 0n || t.mutations.length > 0) throw r.malformed('a split switch carries no transaction')
    const splitSwitch = r.u32()
    const splitRule = version >= RULE_SINCE ? r.opt(() => readRule(r)) : undefined
    try { checkControlEntry({ kind: 'split_switch', shards: splitSwitch, rule: splitRule }) } catch (e) { throw r.malformed(messageOf(e)) }
    return splitRule === undefined ? { ...t, splitSwitch } : { ...t, splitSwitch, splitRule }
  }
  checkXid(r, t)
  if (step === 0) return t
  const phase = STEPS[step - 1]
  if (phase === undefined) throw r.malformed(`unknown two-phase step ${step}`)
  return { ...t, phase }
}

function checkXid (r: CodecReader, t: Txn): void {
  if (t.xid === 0n) throw r.malformed('xid 0')
}

function readTxnV1 (r: CodecReader): Txn {
  const xid = r.u64()
  const commitHlc = r.u64()
  const mutations = r.array(() => {
    const tableId = r.u32()
    const pkBytes = r.blob()
    try { checkTuple(pkBytes) } catch { throw r.malformed('primary key is not a canonical tuple') }
    return { tableId, pkBytes, versionId: readVersionId(r), row: readRow(r) }
  }, 22)
  return { xid, commitHlc, mutations }
}

export const entryPayloadCodec: Codec<Txn> = versionedLowest('replicated entry', CODEC_VERSIONS.replicatedEntry, fail,
  t => t.splitSwitch !== undefined ? (t.splitRule !== undefined ? RULE_SINCE : SWITCH_SINCE) : t.phase === undefined ? 1 : STEP_SINCE, writeTxn, readTxn)

/** The machine's entry for a commit-log entry read from the engine. */
export function toReplEntry (e: RawLogEntry): ReplEntry {
  const generation = Number(e.generation)
  if (e.control?.kind === 'noop') return { lsn: e.lsn, generation, kind: 'noop' }
  if (e.control?.kind === 'config') return { lsn: e.lsn, generation, kind: 'config', voters: [...e.control.voters] }
  if (e.control?.kind === 'split_switch') return { lsn: e.lsn, generation, kind: 'data', payload: entryPayloadCodec.encode({ xid: 0n, commitHlc: 0n, mutations: [], splitSwitch: e.control.shards, splitRule: e.control.rule }) }
  return { lsn: e.lsn, generation, kind: 'data', payload: entryPayloadCodec.encode(e) }
}

/** The commit-log entry REPL_APPLY writes for a machine's entry (its payload checked by checkAppend). */
export function toRawEntry (e: ReplEntry): RawLogEntry {
  const base = { lsn: e.lsn, generation: BigInt(e.generation) }
  if (e.kind === 'noop') return { ...base, xid: asXid(0n), commitHlc: asHlcTs(0n), mutations: [], control: { kind: 'noop' } }
  if (e.kind === 'config') return { ...base, xid: asXid(0n), commitHlc: asHlcTs(0n), mutations: [], control: { kind: 'config', voters: e.voters } }
  const t = entryPayloadCodec.decode(e.payload)
  if (t.splitSwitch !== undefined) {
    const control: ControlEntry = t.splitRule === undefined ? { kind: 'split_switch', shards: t.splitSwitch } : { kind: 'split_switch', shards: t.splitSwitch, rule: t.splitRule }
    return { ...base, xid: asXid(0n), commitHlc: asHlcTs(0n), mutations: [], control }
  }
  const raw: RawLogEntry = { ...base, xid: asXid(t.xid), commitHlc: asHlcTs(t.commitHlc), mutations: t.mutations }
  return t.phase === undefined ? raw : { ...raw, phase: t.phase }
}

/** Throws SB_RPC_MALFORMED when a peer's message carries a data payload that does not decode. */
export function checkAppend (m: ReplMessage): void {
  if (m.type !== 'append') return
  for (const e of m.entries) if (e.kind === 'data') entryPayloadCodec.decode(e.payload)
}
