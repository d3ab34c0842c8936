// RETURNING rows: the plan's program (plan/returning.ts) over each row written or removed.
import type { Program } from '../sblr/program'
import { timestampFromMillis } from '../types/datetime'
import type { SqlValue } from '../types/values'
import type { Generators } from './env'
import { localVm } from './local-vm'
import { commandResult, rowsResult, type StatementResult } from './result'

/**
 * The RETURNING values of rows about to be written or removed — computed before the write, so an
 * error in the list (a division by zero) fails the statement with nothing changed.
 */
export function returningRows (env: Generators, program: Program | null, rows: readonly SqlValue[][], params: readonly SqlValue[]): SqlValue[][] {
  if (program === null) return []
  const vm = localVm(env, program, params, timestampFromMillis(env.clock.now()))
  return rows.map(r => vm.run(r)!)
}

/** The statement's result: its RETURNING rows, or the command with `count` when it has none. */
export function returningResult (command: string, program: Program | null, returned: readonly SqlValue[][], count: number): StatementResult {
  return program === null ? commandResult(command, count) : rowsResult(command, program.outputs, returned)
}
