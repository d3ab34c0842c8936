import type { CodecReader, CodecWriter } from '../../core/codec'
import { readProgress, writeProgress, type DerivedEntry } from '../../storage/split-derive'
import { readRule, writeRule } from '../../storage/split-cleanup'
import { readRow, readTuple, readVersionId, writeRow, writeTuple, writeVersionId } from './parts'
import { readMutation, writeMutation, type Body } from './repl-codecs'
import type { SplitReplies, SplitRequests } from './split-messages'

// Binary bodies of the shard-split ops (split-messages.ts), in the conventions of op-codecs.ts.
//   progress := storage/split-derive.ts writeProgress (format u8 · parent u32 · n u32 · l0 u64 · through u64 · base opt)
//   entry    := xid u64 · commitHlc u64 · mutations (repl-codecs.ts: tableId · pk blob · versionId · row opt)
//   rule     := storage/split-cleanup.ts writeRule (shards u32 · relations [tableId u32 · parts [pos uint · kind u8]])

type SplitBodies = { [K in keyof SplitRequests]: Body<SplitRequests[K], SplitReplies[K]> }

const writeDerived = (w: CodecWriter, e: DerivedEntry): void => { w.u64(e.xid); w.u64(e.commitHlc); w.array(e.mutations, m => writeMutation(w, m)) }
const readDerived = (r: CodecReader): DerivedEntry => ({ xid: r.xid(), commitHlc: r.hlc(), mutations: r.array(() => readMutation(r), 22) })

export const SPLIT_BODIES: SplitBodies = {
  SPLIT_SCAN: {
    req: [(w, v) => { w.u32(v.shard); w.u32(v.tableId); w.opt(v.after, t => writeTuple(w, t)); w.uint(v.limit) },
      r => ({ shard: r.shard(), tableId: r.u32(), after: r.opt(() => readTuple(r)) ?? null, limit: r.uint() })],
    rep: [(w, v) => w.array(v.rows, x => { writeTuple(w, x.pk); writeVersionId(w, x.versionId); writeRow(w, x.row); w.u64(x.commitHlc); w.u64(x.xid) }),
      r => ({ rows: r.array(() => ({ pk: readTuple(r), versionId: readVersionId(r), row: readRow(r), commitHlc: r.hlc(), xid: r.xid() }), 26) })]
  },
  SPLIT_PIN: {
    req: [(w, v) => { w.u32(v.shard); w.bool(v.pin) }, r => ({ shard: r.shard(), pin: r.bool() })],
    rep: [(w, v) => w.opt(v.pin, p => { w.u64(p.l0); w.bool(p.cut) }), r => ({ pin: r.opt(() => ({ l0: r.u64(), cut: r.bool() })) ?? null })]
  },
  SPLIT_DERIVE_APPLY: {
    req: [(w, v) => { w.u32(v.shard); w.opt(v.from, p => writeProgress(w, p)); writeProgress(w, v.to); w.array(v.entries, e => writeDerived(w, e)) },
      r => ({ shard: r.shard(), from: r.opt(() => readProgress(r)) ?? null, to: readProgress(r), entries: r.array(() => readDerived(r), 17) })],
    rep: [(w, v) => { w.bool(v.applied); w.uint(v.written) }, r => ({ applied: r.bool(), written: r.uint() })]
  },
  SPLIT_DERIVE_STATE: {
    req: [(w, v) => { w.u32(v.shard); w.bool(v.clear) }, r => ({ shard: r.shard(), clear: r.bool() })],
    rep: [(w, v) => w.opt(v.progress, p => writeProgress(w, p)), r => ({ progress: r.opt(() => readProgress(r)) ?? null })]
  },
  SPLIT_SWITCH: {
    req: [(w, v) => { w.u32(v.shard); w.u32(v.shards); w.opt(v.rule, x => writeRule(w, x)) }, r => ({ shard: r.shard(), shards: r.u32(), rule: r.opt(() => readRule(r)) ?? null })],
    rep: [(w, v) => w.opt(v.lsn, l => w.u64(l)), r => ({ lsn: r.opt(() => r.u64()) ?? null })]
  },
  SPLIT_FENCE: {
    req: [(w, v) => { w.u32(v.shard); w.opt(v.lift, n => w.u32(n)) }, r => ({ shard: r.shard(), lift: r.opt(() => r.u32()) ?? null })],
    rep: [(w, v) => w.opt(v.fence, f => { w.u32(f.shards); w.u64(f.lsn); w.opt(f.rule, x => writeRule(w, x)) }),
      r => ({ fence: r.opt(() => ({ shards: r.u32(), lsn: r.u64(), rule: r.opt(() => readRule(r)) ?? null })) ?? null })]
  },
  SPLIT_CHILD_CLEAR: {
    req: [(w, v) => { w.u32(v.shard) }, r => ({ shard: r.shard() })],
    rep: [(w, v) => { w.uint(v.relations); w.uint(v.rows) }, r => ({ relations: r.uint(), rows: r.uint() })]
  },
  SPLIT_CLEANUP: {
    req: [(w, v) => { w.u32(v.shard); writeRule(w, v.rule); w.uint(v.maxChunks) }, r => ({ shard: r.shard(), rule: readRule(r), maxChunks: r.uint() })],
    rep: [(w, v) => { w.uint(v.rows); w.uint(v.backVersions); w.bool(v.done) }, r => ({ rows: r.uint(), backVersions: r.uint(), done: r.bool() })]
  }
}
