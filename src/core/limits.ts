// The bounds that more than one module relies on (DESIGN §10 "bounded everything"), in one
// place with the relations between them checked when this module loads — so a node whose limits
// contradict each other (a hint batch larger than an RPC body, a column limit the row codec cannot
// store) fails at boot, not under load. Modules re-export the ones they own; bounds that only one
// module uses stay next to it.
import { assert } from './errors'

const MiB = 1024 * 1024

export const LIMITS = {
  /** Columns of a table (the catalog) and of a row image (the row codec): PostgreSQL's 1600. */
  columns: 1600,
  /** $n parameters of a statement (the parser) and of an HTTP request (the SQL API). */
  sqlParams: 65_535,
  /** CHAR(n)/VARCHAR(n) length and any type modifier the parser accepts (PostgreSQL's limit). */
  charLength: 10_485_760,
  /** Digits of a DECIMAL: declared precision and computed values alike. */
  decimalDigits: 1000,
  /** One encoded SQL value (a TEXT of charLength characters in UTF-8 fits). */
  encodedValueBytes: 16 * MiB,
  /** One row image a shard stores. */
  rowBytes: 16 * MiB,
  /** One cluster RPC request or reply body: a largest row and its envelope fit. */
  rpcBodyBytes: 16 * MiB + 64 * 1024,
  /** One hint delivery batch (one RPC), as stored. */
  hintBatchBytes: 4 * MiB,
  /** Room an RPC message needs beyond its rows: header, op, shard, XID, HLC, counts. */
  rpcEnvelopeBytes: 4096,
  /** Bytes of leaderless writes one transaction buffers until COMMIT (all shards). */
  quorumTxnBytes: 16 * MiB,
  /** A refused HTTP body read and dropped so the client can read the 413. */
  refusedBodyDrainBytes: 16 * MiB
} as const

/** The relations the limits must keep; asserted at load (a contradiction is a programming error). */
export function checkLimits (l: Readonly<Record<keyof typeof LIMITS, number>> = LIMITS): void {
  assert(l.charLength <= l.encodedValueBytes, 'a CHAR(n) of the longest length (in ASCII) must fit one encoded value')
  assert(l.rowBytes <= l.rpcBodyBytes - l.rpcEnvelopeBytes, 'a row image must fit one RPC body with its envelope (replica writes, forwarded shard requests)')
  assert(l.hintBatchBytes <= l.rpcBodyBytes - l.rpcEnvelopeBytes, 'a hint delivery batch must fit one RPC body')
  assert(l.decimalDigits <= l.charLength, 'a DECIMAL must print within a VARCHAR')
  assert(l.sqlParams <= 0xffff, '$n indexes are 16-bit in SBLR programs')
  assert(l.refusedBodyDrainBytes >= MiB, 'a refused body is drained at least as far as the default http.max_body_bytes')
}

checkLimits()
