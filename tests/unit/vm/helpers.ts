import { ManualClock } from '../../../src/core/clock'
import { Hlc } from '../../../src/core/hlc'
import { SeededRng } from '../../../src/core/rng'
import { UuidV7Generator } from '../../../src/core/uuid'
import { type AsmLine, assemble } from '../../../src/sblr/assemble'
import type { Program, ProgramColumn } from '../../../src/sblr/program'
import type { SqlValue } from '../../../src/types/values'
import { Vm, type VmContext } from '../../../src/vm/vm'

export const NODE_ID = 42

export function context (params: SqlValue[] = [], clock = new ManualClock()): VmContext & { clock: ManualClock } {
  const rng = new SeededRng(7)
  return { params, clock, hlc: new Hlc({ clock, rng, nodeId: NODE_ID }), uuidV7: new UuidV7Generator(clock, rng) }
}

export function program (p: Partial<Omit<Program, 'code'>> & { asm: AsmLine[] }): Program {
  const { asm, ...rest } = p
  return {
    registers: 8,
    params: 0,
    constants: [],
    types: [],
    columns: [],
    outputs: [],
    aggregates: [],
    ...rest,
    code: assemble(asm)
  }
}

export function cols (...names: string[]): ProgramColumn[] {
  return names.map((name) => ({ name, type: { kind: 'text' } }))
}

/** Run a program on each row, collecting emitted rows. */
export function runRows (vm: Vm, rows: SqlValue[][]): SqlValue[][] {
  const out: SqlValue[][] = []
  for (const r of rows) {
    const o = vm.run(r)
    if (o !== null) out.push(o)
  }
  return out
}
