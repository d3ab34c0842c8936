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

export interface TypedRows {
  readonly columns: readonly { name: string, type: SqlType }[]
  readonly rows: readonly (readonly SqlValue[])[]
}

// The SQL values and types behind a result's JSON, for the PostgreSQL protocol (which prints its
// own text and binary forms): kept beside the result, not in it, so the JSON stays as it is.
const typed = new WeakMap<StatementResult, TypedRows>()

/** The typed columns and rows of a result made by rowsResult (undefined for a command result). */
export function typedRows (r: StatementResult): TypedRows | undefined { return typed.get(r) }

export function rowsResult (command: string, columns: readonly { name: string, type: SqlType }[], rows: readonly (readonly SqlValue[])[], warnings: string[] = []): StatementResult {
  // The JSON rows are made when first read (JSON.stringify reads them): the PostgreSQL protocol
  // writes the typed rows and never needs them.
  let json: JsonValue[][] | null = null
  const result: StatementResult = {
    command,
    columns: columns.map(c => c.name),
    types: columns.map(c => typeName(c.type)),
    get rows (): JsonValue[][] {
      json ??= rows.map(r => columns.map((c, i) => valueToJson(r[i] ?? null, c.type)))
      return json
    },
    set rows (v: JsonValue[][]) { json = v },
    rowCount: rows.length,
    warnings
  }
  typed.set(result, { columns, rows })
  return result
}

export function commandResult (command: string, rowCount = 0, warnings: string[] = []): StatementResult {
  return { command, columns: [], types: [], rows: [], rowCount, warnings }
}
