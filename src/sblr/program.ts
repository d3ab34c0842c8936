// An SBLR program and its byte form. The bytes cross process boundaries (coordinator → shard
// worker, EXPLAIN caches), so deserialize treats them as hostile: every length is bounded, every
// index verified, and any problem is SB_SBLR_INVALID — never another exception.
//
// Format 1: "SBLR" | u8 format | varint registers | varint params | types | constants (value
// codec) | input columns | output columns | aggregate kinds | code words (varints).
// A list is a varint count then its items; a column is varint name length, UTF-8 name, type,
// then in format 2 only: u8 0, or u8 1 and the value a stored row lacking the column reads (value
// codec; ALTER TABLE … ADD COLUMN). A program with no such value is written in format 1, which
// nodes of earlier releases read too.
// A type is u8 kind code, u8 modifier flags (1 precision, 2 scale, 4 length), then the modifiers.
import { ScratchBirdError } from '../core/errors'
import { ByteSink, ByteSource } from '../core/bytes'
import { TYPE_KINDS, type SqlType } from '../types/sql-types'
import { readValue, writeValue } from '../types/value-codec'
import { valueFitsType, type SqlValue } from '../types/values'
import { AGG_KINDS, type AggKind } from './opcodes'
import type { Program, ProgramColumn } from './program-shape'
import {
  MAX_AGGREGATES, MAX_CODE_WORDS, MAX_CONSTANTS, MAX_NAME_BYTES, MAX_PROGRAM_BYTES, MAX_PROGRAM_COLUMNS, MAX_TYPES
} from './limits'
import { verifyOnce } from './verify'

export * from './limits'

export type { Program, ProgramColumn } from './program-shape'

export const SBLR_MAGIC = Uint8Array.of(0x53, 0x42, 0x4c, 0x52) // "SBLR"
export const SBLR_FORMAT = 1
/** The format of programs whose input columns carry a missing value. */
export const SBLR_FORMAT_MISSING = 2

export function sblrInvalid (why: string, details: Record<string, unknown> = {}): ScratchBirdError {
  return new ScratchBirdError('SB_SBLR_INVALID', `invalid SBLR program: ${why}`, details)
}

const utf8Encoder = new TextEncoder()
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

function writeType (w: ByteSink, t: SqlType): void {
  w.u8(TYPE_KINDS.indexOf(t.kind))
  const flags = (t.precision !== undefined ? 1 : 0) | (t.scale !== undefined ? 2 : 0) | (t.length !== undefined ? 4 : 0)
  w.u8(flags)
  if (t.precision !== undefined) w.varint(t.precision)
  if (t.scale !== undefined) w.varint(t.scale)
  if (t.length !== undefined) w.varint(t.length)
}

function readType (r: ByteSource): SqlType {
  const kind = TYPE_KINDS[r.u8()]
  if (kind === undefined) throw sblrInvalid('unknown type code')
  const flags = r.u8()
  if (flags > 7) throw sblrInvalid(`unknown type flags ${flags}`)
  const t: { kind: SqlType['kind'], precision?: number, scale?: number, length?: number } = { kind }
  if (flags & 1) t.precision = r.varint()
  if (flags & 2) t.scale = r.varint()
  if (flags & 4) t.length = r.varint()
  return t
}

function writeColumns (w: ByteSink, cols: readonly ProgramColumn[], format: number): void {
  w.varint(cols.length)
  for (const c of cols) {
    const name = utf8Encoder.encode(c.name)
    w.varint(name.length)
    w.bytes(name)
    writeType(w, c.type)
    if (format === SBLR_FORMAT) continue
    if (c.missing === undefined || c.missing === null) w.u8(0)
    else {
      w.u8(1)
      writeValue(w, c.missing)
    }
  }
}

function count (r: ByteSource, max: number, what: string): number {
  const n = r.varint()
  if (n > max) throw sblrInvalid(`${n} ${what}, at most ${max}`)
  // Every item takes at least one byte: a count beyond the remaining bytes is garbage.
  if (n > r.end - r.pos) throw sblrInvalid(`${n} ${what} in ${r.end - r.pos} bytes`)
  return n
}

function readColumns (r: ByteSource, what: string, format: number): ProgramColumn[] {
  const n = count(r, MAX_PROGRAM_COLUMNS, what)
  const out: ProgramColumn[] = []
  for (let i = 0; i < n; i++) {
    const len = r.varint()
    if (len > MAX_NAME_BYTES) throw sblrInvalid('column name too long')
    let name: string
    try { name = utf8.decode(r.bytes(len)) } catch (e) {
      if (e instanceof ScratchBirdError) throw e
      throw sblrInvalid('column name is not UTF-8')
    }
    const type = readType(r)
    if (format === SBLR_FORMAT) { out.push({ name, type }); continue }
    const flag = r.u8()
    if (flag > 1) throw sblrInvalid(`unknown column flag ${flag}`)
    if (flag === 0) { out.push({ name, type }); continue }
    const missing = readValue(r, (why) => sblrInvalid(`missing value: ${why}`))
    if (missing === null || !valueFitsType(missing, type)) throw sblrInvalid(`column "${name}": its missing value does not fit its type`)
    out.push({ name, type, missing })
  }
  return out
}

// The bytes of a program object, kept as long as it lives (cached plans ship the same program
// on every execution). Callers only copy them (into a ring or a frame), never change them.
const written = new WeakMap<Program, Uint8Array>()

/** Bytes of a program (verified first: only valid programs are written). */
export function serialize (p: Program): Uint8Array {
  const known = written.get(p)
  if (known !== undefined) return known
  const bytes = write(p)
  written.set(p, bytes)
  return bytes
}

function write (p: Program): Uint8Array {
  verifyOnce(p)
  const w = new ByteSink(256)
  const format = [...p.columns, ...p.outputs].some(c => c.missing !== undefined && c.missing !== null) ? SBLR_FORMAT_MISSING : SBLR_FORMAT
  w.bytes(SBLR_MAGIC)
  w.u8(format)
  w.varint(p.registers)
  w.varint(p.params)
  w.varint(p.types.length)
  for (const t of p.types) writeType(w, t)
  w.varint(p.constants.length)
  for (const c of p.constants) writeValue(w, c)
  writeColumns(w, p.columns, format)
  writeColumns(w, p.outputs, format)
  w.varint(p.aggregates.length)
  for (const a of p.aggregates) w.u8(AGG_KINDS.indexOf(a))
  w.varint(p.code.length)
  for (const word of p.code) w.varint(word)
  return w.take()
}

function parse (bytes: Uint8Array): Program {
  if (!(bytes instanceof Uint8Array)) throw sblrInvalid('not bytes')
  if (bytes.length > MAX_PROGRAM_BYTES) throw sblrInvalid(`${bytes.length} bytes, at most ${MAX_PROGRAM_BYTES}`)
  const r = new ByteSource(bytes, (why) => sblrInvalid(why))
  for (let i = 0; i < SBLR_MAGIC.length; i++) if (r.u8() !== SBLR_MAGIC[i]) throw sblrInvalid('bad magic')
  const format = r.u8()
  if (format !== SBLR_FORMAT && format !== SBLR_FORMAT_MISSING) throw sblrInvalid(`unknown format ${format}`)
  const registers = r.varint()
  const params = r.varint()
  const types: SqlType[] = []
  for (let n = count(r, MAX_TYPES, 'types'); n > 0; n--) types.push(readType(r))
  const constants: SqlValue[] = []
  const fail = (why: string): ScratchBirdError => sblrInvalid(`constant: ${why}`)
  for (let n = count(r, MAX_CONSTANTS, 'constants'); n > 0; n--) constants.push(readValue(r, fail))
  const columns = readColumns(r, 'input columns', format)
  const outputs = readColumns(r, 'output columns', format)
  const aggregates: AggKind[] = []
  for (let n = count(r, MAX_AGGREGATES, 'aggregates'); n > 0; n--) {
    const k = AGG_KINDS[r.u8()]
    if (k === undefined) throw sblrInvalid('unknown aggregate kind')
    aggregates.push(k)
  }
  const code: number[] = []
  for (let n = count(r, MAX_CODE_WORDS, 'code words'); n > 0; n--) code.push(r.varint())
  if (!r.done) throw sblrInvalid(`${r.end - r.pos} trailing bytes`)
  return { registers, params, constants, types, columns, outputs, aggregates, code }
}

/** Program from bytes, verified. Anything malformed → SB_SBLR_INVALID. */
export function deserialize (bytes: Uint8Array): Program {
  let p: Program
  try {
    p = parse(bytes)
    verifyOnce(p)
  } catch (e) {
    if (e instanceof ScratchBirdError && e.code === 'SB_SBLR_INVALID') throw e
    // A bound we did not foresee (a RangeError, a bad date in a constant…) is still bad input.
    throw sblrInvalid(e instanceof Error ? e.message : String(e))
  }
  return p
}
