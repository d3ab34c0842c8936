// Programs the coordinator runs itself: a VM over the node's generators at the statement's time,
// and the passthrough program that fetches whole rows for a program that cannot run in a shard.
import type { Program, ProgramColumn } from '../sblr/program'
import { Vm } from '../vm/vm'
import type { SqlTimestamp } from '../types/datetime'
import type { SqlValue } from '../types/values'
import { ProgramBuilder } from '../plan/program-builder'
import type { Generators } from './env'

export function localVm (gen: Generators, program: Program, params: readonly SqlValue[], now: SqlTimestamp): Vm {
  return new Vm(program, { params, hlc: gen.hlc, uuidV7: gen.uuidV7, clock: gen.clock, statementTime: now })
}

/** A program emitting every input column: rows for programs that must run on the coordinator. */
export function passthrough (columns: readonly ProgramColumn[]): Program {
  const b = new ProgramBuilder([], columns)
  const first = b.regs(columns.length)
  columns.forEach((_, i) => b.emit('LOAD_COLUMN', first + i, i))
  b.emit('EMIT', first, columns.length)
  return b.build(columns)
}
