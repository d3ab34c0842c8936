// Builds one SBLR program: a register bump allocator, constant and type pools, and assembler
// lines with labels. The compiler (compile-expr.ts) and the statement planners emit into it; the
// result is verified by the Vm/serialize like any program from outside.
import { ScratchBirdError } from '../core/errors'
import { assemble, type AsmLine } from '../sblr/assemble'
import type { Program, ProgramColumn } from '../sblr/program'
import { MAX_REGISTERS } from '../sblr/limits'
import type { AggKind } from '../sblr/opcodes'
import { typesEqual, type SqlType } from '../types/sql-types'
import type { SqlValue } from '../types/values'

export class ProgramBuilder {
  private readonly lines: AsmLine[] = []
  private readonly constants: SqlValue[] = []
  private readonly types: SqlType[] = []
  private nextReg = 0
  private labels = 0
  /** The program calls gen_uuidv8_hlc()/gen_uuidv7(): it must run where the node's HLC lives. */
  volatile = false

  constructor (
    /** Values of $1…$n for this request (their count is the program's parameter count). */
    readonly params: readonly SqlValue[],
    /** Input row layout (LOAD_COLUMN). */
    readonly columns: readonly ProgramColumn[],
    readonly aggregates: AggKind[] = []
  ) {}

  /** `n` fresh contiguous registers; returns the first. */
  regs (n: number): number {
    const first = this.nextReg
    this.nextReg += n
    if (this.nextReg > MAX_REGISTERS) throw new ScratchBirdError('SB_PROGRAM_LIMIT_EXCEEDED', `statement needs more than ${MAX_REGISTERS} registers`)
    return first
  }

  reg (): number { return this.regs(1) }

  constant (v: SqlValue): number {
    this.constants.push(v)
    return this.constants.length - 1
  }

  type (t: SqlType): number {
    const i = this.types.findIndex(x => typesEqual(x, t))
    if (i >= 0) return i
    this.types.push(t)
    return this.types.length - 1
  }

  /**
   * Declares parameter `index` read by LOAD_PARAM beyond the request's own: a subquery's value or
   * an enclosing row's column, appended at run time (subquery-plan.ts slots).
   */
  useParam (index: number): void { if (index >= this.extraParams) this.extraParams = index + 1 }
  private extraParams = 0

  label (): string { return `L${this.labels++}` }
  place (label: string): void { this.lines.push(`${label}:`) }
  emit (name: string, ...operands: Array<number | string>): void { this.lines.push([name, ...operands]) }

  build (outputs: readonly ProgramColumn[]): Program {
    return {
      registers: Math.max(1, this.nextReg),
      params: Math.max(this.params.length, this.extraParams),
      constants: this.constants,
      types: this.types,
      columns: this.columns,
      outputs,
      aggregates: this.aggregates,
      code: assemble(this.lines)
    }
  }
}
