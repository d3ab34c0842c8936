// The shape of one statement's answer in the HTTP API (DESIGN §1, issue 4 "HTTP API"):
// {command, columns, types, rows, rowCount, warnings}; values through valueToJson (BIGINT and
// DECIMAL as strings, UUIDs canonical).
import { typeName, type SqlType } from '../types/sql-types'
import { valueToJson, type JsonValue, type SqlValue } from '../types/values'

export interface StatementResult {
  command: string
  columns: string[]
  /** SQL type of each column, e.g. "BIGINT", "VARCHAR(20)". */
  types: string[]
  rows: JsonValue[][]
  rowCount: number
  warnings: string[]
}

export function rowsResult (command: string, columns: readonly { name: string, type: SqlType }[], rows: readonly (readonly SqlValue[])[], warnings: string[] = []): StatementResult {
  return {
    command,
    columns: columns.map(c => c.name),
    types: columns.map(c => typeName(c.type)),
    rows: rows.map(r => columns.map((c, i) => valueToJson(r[i] ?? null, c.type))),
    rowCount: rows.length,
    warnings
  }
}

export function commandResult (command: string, rowCount = 0, warnings: string[] = []): StatementResult {
  return { command, columns: [], types: [], rows: [], rowCount, warnings }
}
