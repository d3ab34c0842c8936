// RowDescription and DataRow: result columns and rows in the formats the client asked for in
// Bind (text unless it asked for binary; the simple query protocol is always text); and what an
// executor result becomes on this protocol (its typed rows, its CommandComplete tag).
import { typedRows, type StatementResult } from '../../exec/result'
import type { SqlValue } from '../../types/values'
import type { Column } from './local'
import { oidOf, typeModifier, typeSize } from './types'
import { binaryOf, textOf } from './values'
import type { MessageWriter } from './writer'

/** Bind's result format codes (none: all text; one: all columns; else one per column). */
export type Formats = readonly number[]

export function formatOf (formats: Formats, i: number): number {
  return formats.length === 0 ? 0 : formats.length === 1 ? formats[0]! : formats[i] ?? 0
}

export function writeRowDescription (w: MessageWriter, columns: readonly Column[], formats: Formats): void {
  w.begin('T').int16(columns.length)
  for (let i = 0; i < columns.length; i++) {
    const c = columns[i]!
    const oid = oidOf(c.type)
    w.cstring(c.name).int32(0).int16(0).int32(oid).int16(typeSize(oid)).int32(typeModifier(c.type)).int16(formatOf(formats, i))
  }
  w.end()
}

export function writeDataRow (w: MessageWriter, columns: readonly Column[], row: readonly SqlValue[], formats: Formats): void {
  w.begin('D').int16(columns.length)
  for (let i = 0; i < columns.length; i++) {
    const v = row[i] ?? null
    const t = columns[i]!.type
    if (v === null) w.int32(-1)
    else if (formatOf(formats, i) === 1) { const b = binaryOf(v, t); w.int32(b.length).bytes(b) } else w.lengthString(textOf(v, t)!)
  }
  w.end()
}

/** CommandComplete tag of an executor result, PostgreSQL's spelling. */
export function commandTag (r: StatementResult): string {
  switch (r.command) {
    case 'SELECT': return `SELECT ${r.rowCount}`
    case 'INSERT': return `INSERT 0 ${r.rowCount}`
    case 'UPDATE': case 'DELETE': return `${r.command} ${r.rowCount}`
    default: return r.command
  }
}

/** The typed columns and rows behind an executor result (none for a command result). */
export function columnsAndRows (r: StatementResult): { columns: readonly Column[], rows: readonly (readonly SqlValue[])[] } {
  return typedRows(r) ?? { columns: [], rows: [] }
}
