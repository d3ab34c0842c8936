// Rows of SQL values between a shard worker and the coordinator (QUERY requests' parameters and
// replies): the self-describing value codec, so a row needs no types to travel. Replies come from
// another thread and requests may come from another node later: malformed → SB_MALFORMED_REQUEST.
import { ScratchBirdError } from '../../core/errors'
import { ByteSink, ByteSource } from '../../core/bytes'
import { readValue, writeValue } from '../../types/value-codec'
import type { SqlValue } from '../../types/values'

export function encodeRows (rows: readonly (readonly SqlValue[])[]): Uint8Array {
  const w = new ByteSink(256)
  w.varint(rows.length)
  for (const row of rows) {
    w.varint(row.length)
    for (const v of row) writeValue(w, v)
  }
  return w.take()
}

export function decodeRows (bytes: Uint8Array): SqlValue[][] {
  const fail = (why: string): ScratchBirdError => new ScratchBirdError('SB_MALFORMED_REQUEST', `malformed row list: ${why}`)
  const r = new ByteSource(bytes, fail)
  const n = r.varint()
  if (n > bytes.length) throw fail('row count')
  const rows: SqlValue[][] = []
  for (let i = 0; i < n; i++) {
    const m = r.varint()
    if (m > bytes.length) throw fail('column count')
    const row: SqlValue[] = []
    for (let j = 0; j < m; j++) row.push(readValue(r, fail))
    rows.push(row)
  }
  if (!r.done) throw fail('trailing bytes')
  return rows
}
