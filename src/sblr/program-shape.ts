// The shape of an SBLR program in memory, apart from its byte form (program.ts) and its
// verification (verify.ts), which both need it: one leaf module, so neither imports the other.
import type { SqlType } from '../types/sql-types'
import type { SqlValue } from '../types/values'
import type { AggKind } from './opcodes'

export interface ProgramColumn {
  readonly name: string
  readonly type: SqlType
  /**
   * An input column's value in a stored row that lacks it (written before ALTER TABLE ADD COLUMN:
   * the DEFAULT as evaluated then); absent: NULL. Travels with the program so a shard worker
   * decodes rows exactly as the coordinator's catalog says.
   */
  readonly missing?: SqlValue
}

export interface Program {
  /** Register file size. */
  readonly registers: number
  /** Parameters the statement takes ($1 … $params). */
  readonly params: number
  readonly constants: readonly SqlValue[]
  /** Types named by `type` operands (CAST targets, arithmetic result types). */
  readonly types: readonly SqlType[]
  /** Input row layout: LOAD_COLUMN c reads columns[c]. */
  readonly columns: readonly ProgramColumn[]
  /** Output row layout: every EMIT outputs exactly this many registers. */
  readonly outputs: readonly ProgramColumn[]
  /** Aggregate slots. */
  readonly aggregates: readonly AggKind[]
  /** Opcode and operand words. */
  readonly code: readonly number[]
}
