// Assignment of values to a table's columns (INSERT / UPDATE): the cast each column type applies,
// the error naming the column, and NOT NULL. One place for the main thread (exec/write-rows.ts
// assignRow, which adds a domain's rules) and for a shard worker running a pk-pinned UPDATE whole
// (shard/drivers/modify-driver.ts), so both reject the same values with the same codes.
import { isScratchBirdError, ScratchBirdError } from '../core/errors'
import { assignValue } from './cast'
import type { SqlType } from './sql-types'
import type { SqlValue } from './values'

/** What assignment needs of one column. `dropped`: a dropped column's slot, which always gets NULL. */
export interface AssignColumn { readonly name: string, readonly type: SqlType, readonly notNull: boolean, readonly dropped: boolean }

/** `assign(v)` (default: the column type's assignment cast) with its error naming the column. */
export function assignToColumn (column: string, v: SqlValue, assign: (v: SqlValue) => SqlValue): SqlValue {
  try {
    return assign(v)
  } catch (e) {
    if (isScratchBirdError(e)) throw new ScratchBirdError(e.code, `column "${column}": ${e.message}`, { ...e.details, column })
    throw e
  }
}

export function notNullViolation (table: string, column: string): ScratchBirdError {
  return new ScratchBirdError('SB_NOT_NULL_VIOLATION', `null value in column "${column}" of relation "${table}" violates not-null constraint`, { table, column })
}

/** Every column of a row assigned in column order (a table without domains: exec/write-rows.ts assignRow otherwise). */
export function assignColumns (table: string, columns: readonly AssignColumn[], values: readonly SqlValue[]): SqlValue[] {
  return columns.map((c, i) => {
    if (c.dropped) return null
    const v = assignToColumn(c.name, values[i] ?? null, x => assignValue(x, c.type))
    if (v === null && c.notNull) throw notNullViolation(table, c.name)
    return v
  })
}
