// The SBLR register VM (DESIGN §5). A Vm is built once per statement and shard from a verified
// program, then run once per input row by the scan driver. The program was verified at load, so
// the loop below indexes registers, constants and jump targets without checks; what it does
// bound is the number of instructions per row, so a looping program cannot hang a shard worker.
import type { Clock } from '../core/clock'
import { ScratchBirdError } from '../core/errors'
import { type Hlc, uuidv8Counter, uuidv8NodeId, uuidv8Timestamp } from '../core/hlc'
import { compareUuid, uuidVersion, type UuidV7Generator } from '../core/uuid'
import { castValue } from '../types/cast'
import { timestampFromMillis, type SqlTimestamp } from '../types/datetime'
import type { RowImage } from '../types/row-codec'
import { and3, compareValues, mismatch, not3, or3, SqlUuid, type SqlValue, valueClass, valueToText } from '../types/values'
import { OP } from '../sblr/opcodes'
import type { Program } from '../sblr/program'
import { verifyOnce } from '../sblr/verify'
import { aggFinal, aggMerge, aggStep, type AggState, decodeAggState, encodeAggState, newAggState } from './aggregates'
import { abs, type ArithOp, arith, like, negate, round, textLength } from './scalar'

/** Instructions one row may execute before the VM gives up (SB_PROGRAM_LIMIT_EXCEEDED). */
export const MAX_INSTRUCTIONS_PER_ROW = 100_000

export interface VmContext {
  /** Statement parameters; $1 is params[0]. */
  readonly params: readonly SqlValue[]
  /** The node's HLC, for gen_uuidv8_hlc(). */
  readonly hlc: Hlc
  readonly uuidV7: UuidV7Generator
  /** now(); read once per Vm (statement), as now() is stable within a statement. */
  readonly clock: Clock
  /** Overrides the clock for now() (e.g. the transaction start time). */
  readonly statementTime?: SqlTimestamp
  readonly maxInstructionsPerRow?: number
}

/** A decoded row, or a row image whose columns decode on first use. */
export type RowInput = readonly SqlValue[] | RowImage

function uuidOf (v: NonNullable<SqlValue>, fn: string): Uint8Array {
  if (v instanceof SqlUuid) return v.uuid
  throw mismatch(`${fn}() expects a UUID, got ${valueClass(v)}`)
}

function asBool (v: SqlValue, what: string): boolean | null {
  if (v === null || typeof v === 'boolean') return v
  throw mismatch(`argument of ${what} must be boolean, got ${valueClass(v)}`)
}

export class Vm {
  readonly program: Program
  /** Aggregate slots used when run() is not given a group's own states. */
  readonly aggregates: AggState[]
  private readonly code: Int32Array
  private readonly regs: SqlValue[]
  private readonly ctx: VmContext
  private readonly limit: number
  private now: SqlTimestamp | undefined

  constructor (program: Program, ctx: VmContext) {
    verifyOnce(program)
    if (ctx.params.length < program.params) {
      throw new ScratchBirdError('SB_BAD_ARGUMENT', `the statement needs ${program.params} parameters, got ${ctx.params.length}`)
    }
    this.program = program
    this.ctx = ctx
    this.code = Int32Array.from(program.code)
    this.regs = new Array<SqlValue>(program.registers).fill(null)
    this.aggregates = this.newAggregates()
    this.limit = ctx.maxInstructionsPerRow ?? MAX_INSTRUCTIONS_PER_ROW
    this.now = ctx.statementTime
  }

  /** Fresh aggregate states for one group. */
  newAggregates (): AggState[] {
    return this.program.aggregates.map(newAggState)
  }

  /**
   * Run the program on one row: the output row for EMIT, null for SKIP/HALT. `row` may be omitted
   * by programs that read no columns (SELECT without FROM, aggregate finals).
   */
  run (row: RowInput = [], aggs: AggState[] = this.aggregates): SqlValue[] | null {
    const code = this.code
    const r = this.regs
    const p = this.program
    r.fill(null)
    let budget = this.limit
    let pc = 0
    for (;;) {
      if (--budget < 0) {
        throw new ScratchBirdError('SB_PROGRAM_LIMIT_EXCEEDED', `SBLR program exceeded ${this.limit} instructions for one row`, { limit: this.limit, pc })
      }
      const op = code[pc]!
      switch (op) {
        case OP.NOP: pc += 1; break
        case OP.HALT: case OP.SKIP: return null
        case OP.EMIT: {
          const first = code[pc + 1]!
          return r.slice(first, first + code[pc + 2]!)
        }
        case OP.LOAD_CONST: r[code[pc + 1]!] = p.constants[code[pc + 2]!]!; pc += 3; break
        case OP.LOAD_PARAM: r[code[pc + 1]!] = this.ctx.params[code[pc + 2]!]!; pc += 3; break
        case OP.LOAD_COLUMN: {
          const c = code[pc + 2]!
          r[code[pc + 1]!] = Array.isArray(row) ? (row as readonly SqlValue[])[c] ?? null : (row as RowImage).get(c)
          pc += 3
          break
        }
        case OP.LOAD_NULL: r[code[pc + 1]!] = null; pc += 2; break
        case OP.MOVE: r[code[pc + 1]!] = r[code[pc + 2]!]!; pc += 3; break
        case OP.ADD: case OP.SUB: case OP.MUL: case OP.DIV: case OP.MOD: {
          const a = r[code[pc + 2]!]!
          const b = r[code[pc + 3]!]!
          r[code[pc + 1]!] = a === null || b === null ? null : arith((op - OP.ADD) as ArithOp, a, b, p.types[code[pc + 4]!]!)
          pc += 5
          break
        }
        case OP.NEG: {
          const a = r[code[pc + 2]!]!
          r[code[pc + 1]!] = a === null ? null : negate(a, p.types[code[pc + 3]!]!)
          pc += 4
          break
        }
        case OP.CONCAT: {
          const a = r[code[pc + 2]!]!
          const b = r[code[pc + 3]!]!
          r[code[pc + 1]!] = a === null || b === null ? null : valueToText(a)! + valueToText(b)!
          pc += 4
          break
        }
        case OP.EQ: case OP.NE: case OP.LT: case OP.LE: case OP.GT: case OP.GE: {
          const a = r[code[pc + 2]!]!
          const b = r[code[pc + 3]!]!
          r[code[pc + 1]!] = a === null || b === null ? null : compareResult(op, compareValues(a, b))
          pc += 4
          break
        }
        case OP.IS_NULL: r[code[pc + 1]!] = r[code[pc + 2]!] === null; pc += 3; break
        case OP.IS_NOT_NULL: r[code[pc + 1]!] = r[code[pc + 2]!] !== null; pc += 3; break
        case OP.LIKE: {
          const a = r[code[pc + 2]!]!
          const b = r[code[pc + 3]!]!
          if (a !== null && typeof a !== 'string') throw mismatch(`LIKE expects text, got ${valueClass(a)}`)
          if (b !== null && typeof b !== 'string') throw mismatch(`LIKE pattern must be text, got ${valueClass(b)}`)
          r[code[pc + 1]!] = a === null || b === null ? null : like(a, b)
          pc += 4
          break
        }
        case OP.IN: r[code[pc + 1]!] = inList(r, r[code[pc + 2]!]!, code[pc + 3]!, code[pc + 4]!); pc += 5; break
        case OP.BETWEEN: {
          const a = r[code[pc + 2]!]!
          const lo = r[code[pc + 3]!]!
          const hi = r[code[pc + 4]!]!
          const ge = a === null || lo === null ? null : compareValues(a, lo) >= 0
          const le = a === null || hi === null ? null : compareValues(a, hi) <= 0
          r[code[pc + 1]!] = and3(ge, le)
          pc += 5
          break
        }
        case OP.AND: r[code[pc + 1]!] = and3(asBool(r[code[pc + 2]!]!, 'AND'), asBool(r[code[pc + 3]!]!, 'AND')); pc += 4; break
        case OP.OR: r[code[pc + 1]!] = or3(asBool(r[code[pc + 2]!]!, 'OR'), asBool(r[code[pc + 3]!]!, 'OR')); pc += 4; break
        case OP.NOT: r[code[pc + 1]!] = not3(asBool(r[code[pc + 2]!]!, 'NOT')); pc += 3; break
        case OP.IS_TRUE: r[code[pc + 1]!] = r[code[pc + 2]!] === true; pc += 3; break
        case OP.CAST: r[code[pc + 1]!] = castValue(r[code[pc + 2]!]!, p.types[code[pc + 3]!]!, true); pc += 4; break
        case OP.JUMP: pc = code[pc + 1]!; break
        case OP.JUMP_IF_TRUE: pc = r[code[pc + 1]!] === true ? code[pc + 2]! : pc + 3; break
        case OP.JUMP_IF_NOT_TRUE: pc = r[code[pc + 1]!] !== true ? code[pc + 2]! : pc + 3; break
        case OP.JUMP_IF_NULL: pc = r[code[pc + 1]!] === null ? code[pc + 2]! : pc + 3; break
        case OP.LOWER: case OP.UPPER: {
          const a = r[code[pc + 2]!]!
          if (a !== null && typeof a !== 'string') throw mismatch(`${op === OP.LOWER ? 'lower' : 'upper'}() expects text, got ${valueClass(a)}`)
          r[code[pc + 1]!] = a === null ? null : op === OP.LOWER ? a.toLowerCase() : a.toUpperCase()
          pc += 3
          break
        }
        case OP.LENGTH: { const a = r[code[pc + 2]!]!; r[code[pc + 1]!] = a === null ? null : textLength(a); pc += 3; break }
        case OP.COALESCE: {
          const first = code[pc + 2]!
          const end = first + code[pc + 3]!
          let v: SqlValue = null
          for (let i = first; i < end && v === null; i++) v = r[i]!
          r[code[pc + 1]!] = v
          pc += 4
          break
        }
        case OP.ABS: { const a = r[code[pc + 2]!]!; r[code[pc + 1]!] = a === null ? null : abs(a); pc += 3; break }
        case OP.ROUND: {
          const a = r[code[pc + 2]!]!
          const d = r[code[pc + 3]!]!
          r[code[pc + 1]!] = a === null || d === null ? null : round(a, d)
          pc += 4
          break
        }
        case OP.NOW: r[code[pc + 1]!] = this.statementNow(); pc += 2; break
        case OP.UUID_VERSION: {
          const a = r[code[pc + 2]!]!
          r[code[pc + 1]!] = a === null ? null : BigInt(uuidVersion(uuidOf(a, 'uuid_version')))
          pc += 3
          break
        }
        case OP.AGG_INIT: aggs[code[pc + 1]!] = newAggState(p.aggregates[code[pc + 1]!]!); pc += 2; break
        case OP.AGG_STEP: aggStep(aggs[code[pc + 1]!]!, r[code[pc + 2]!]!); pc += 3; break
        case OP.AGG_MERGE: {
          const v = r[code[pc + 2]!]!
          if (v !== null) aggMerge(aggs[code[pc + 1]!]!, decodeAggState(v))
          pc += 3
          break
        }
        case OP.AGG_PARTIAL: r[code[pc + 1]!] = encodeAggState(aggs[code[pc + 2]!]!); pc += 3; break
        case OP.AGG_FINAL: r[code[pc + 1]!] = aggFinal(aggs[code[pc + 2]!]!); pc += 3; break
        case OP.GEN_UUID_V7: r[code[pc + 1]!] = new SqlUuid(this.ctx.uuidV7.generate()); pc += 2; break
        case OP.GEN_UUID_V8_HLC: r[code[pc + 1]!] = new SqlUuid(this.ctx.hlc.generate()); pc += 2; break
        case OP.UUID_V8_TIMESTAMP: {
          const a = r[code[pc + 2]!]!
          r[code[pc + 1]!] = a === null ? null : timestampFromMillis(uuidv8Timestamp(uuidOf(a, 'uuidv8_timestamp')))
          pc += 3
          break
        }
        case OP.UUID_V8_COUNTER: {
          const a = r[code[pc + 2]!]!
          r[code[pc + 1]!] = a === null ? null : BigInt(uuidv8Counter(uuidOf(a, 'uuidv8_counter')))
          pc += 3
          break
        }
        case OP.UUID_V8_NODE_ID: {
          const a = r[code[pc + 2]!]!
          r[code[pc + 1]!] = a === null ? null : BigInt(uuidv8NodeId(uuidOf(a, 'uuidv8_node_id')))
          pc += 3
          break
        }
        case OP.UUID_COMPARE: {
          const a = r[code[pc + 2]!]!
          const b = r[code[pc + 3]!]!
          r[code[pc + 1]!] = a === null || b === null ? null : BigInt(compareUuid(uuidOf(a, 'uuid_compare'), uuidOf(b, 'uuid_compare')))
          pc += 4
          break
        }
        default:
          // Unreachable for a verified program; an opcode added to the table without a case lands here.
          throw new ScratchBirdError('SB_INTERNAL', `VM has no implementation of opcode ${op}`, { pc })
      }
    }
  }

  private statementNow (): SqlTimestamp {
    if (this.now === undefined) this.now = timestampFromMillis(this.ctx.clock.now())
    return this.now
  }
}

function compareResult (op: number, c: number): boolean {
  switch (op) {
    case OP.EQ: return c === 0
    case OP.NE: return c !== 0
    case OP.LT: return c < 0
    case OP.LE: return c <= 0
    case OP.GT: return c > 0
    default: return c >= 0
  }
}

/** a IN (list): true on a match; otherwise NULL if a or any element is NULL; else false. */
function inList (r: readonly SqlValue[], a: SqlValue, first: number, n: number): boolean | null {
  if (a === null) return n === 0 ? false : null
  let sawNull = false
  for (let i = first; i < first + n; i++) {
    const v = r[i]!
    if (v === null) sawNull = true
    else if (compareValues(a, v) === 0) return true
  }
  return sawNull ? null : false
}
