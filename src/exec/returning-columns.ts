// The RETURNING columns of a statement without running it, for PostgreSQL's Describe of a
// prepared INSERT/UPDATE/DELETE (the portal's Describe runs it and sees the rows).
import type { ProgramColumn } from '../sblr/program'
import type { DeleteStatement, InsertStatement, UpdateStatement } from '../sql/ast'
import type { SqlValue } from '../types/values'
import type { ExecEnv } from './env'
import { planInsert } from './insert'
import { planModify } from './modify'

/** The RETURNING columns of a statement, without running it (PostgreSQL's Describe of a statement). */
export function returningColumns (env: ExecEnv, s: InsertStatement | UpdateStatement | DeleteStatement, params: readonly SqlValue[]): readonly ProgramColumn[] | null {
  const program = s.kind === 'insert' ? planInsert(env, s, params).returning : planModify(env, s, params).returning
  return program?.outputs ?? null
}
