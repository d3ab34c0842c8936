// Load-time verification of an SBLR program, so the VM's hot loop can index registers, constants
// and jump targets without checks: every opcode known, every operand in range for its kind, every
// jump landing on an instruction, no path falling off the end of the code.
import { ScratchBirdError } from '../core/errors'
import { MAX_CHAR_LENGTH, MAX_DECIMAL_PRECISION, TYPE_KINDS, isNumericKind, type SqlType } from '../types/sql-types'
import { type SqlUuid, valueClass } from '../types/values'
import {
  MAX_AGGREGATES, MAX_CODE_WORDS, MAX_CONSTANTS, MAX_PARAMS, MAX_PROGRAM_COLUMNS, MAX_REGISTERS, MAX_TYPES
} from './limits'
import { AGG_KINDS, OP, OPCODE_BY_CODE } from './opcodes'
import type { Program } from './program-shape'

const LIMITS = {
  registers: MAX_REGISTERS, params: MAX_PARAMS, constants: MAX_CONSTANTS, types: MAX_TYPES, columns: MAX_PROGRAM_COLUMNS, aggregates: MAX_AGGREGATES, code: MAX_CODE_WORDS
}

function invalid (why: string, details: Record<string, unknown> = {}): ScratchBirdError {
  return new ScratchBirdError('SB_SBLR_INVALID', `invalid SBLR program: ${why}`, details)
}

function isIndex (n: unknown, limit: number): boolean {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= limit
}

function checkType (t: SqlType, i: number): void {
  if (t === null || typeof t !== 'object' || !TYPE_KINDS.includes(t.kind)) throw invalid(`type ${i} unknown`)
  const { precision: p, scale: s, length: l } = t
  if (t.kind === 'decimal') {
    if ((p === undefined) !== (s === undefined)) throw invalid(`type ${i}: DECIMAL needs both precision and scale, or neither`)
    if (p !== undefined && (!isIndex(p, MAX_DECIMAL_PRECISION) || p < 1 || !isIndex(s, p))) throw invalid(`type ${i}: bad DECIMAL(${p},${s})`)
  } else if (p !== undefined || s !== undefined) throw invalid(`type ${i}: only DECIMAL takes precision and scale`)
  if (t.kind === 'char' || t.kind === 'varchar') {
    if (l !== undefined && (!isIndex(l, MAX_CHAR_LENGTH) || l < 1)) throw invalid(`type ${i}: bad length ${l}`)
    if (t.kind === 'char' && l === undefined) throw invalid(`type ${i}: CHAR needs a length`)
  } else if (l !== undefined) throw invalid(`type ${i}: only CHAR and VARCHAR take a length`)
}

const ARITH_OPS = new Set<number>([OP.ADD, OP.SUB, OP.MUL, OP.DIV, OP.MOD, OP.NEG])

// Programs are immutable (readonly all the way down) and the plan cache reuses them, as shard
// workers reuse the ones they decoded (src/shard/program-cache.ts): one verification per object.
const verified = new WeakSet<Program>()

/** verifyProgram, once per Program object. */
export function verifyOnce (p: Program): void {
  if (verified.has(p)) return
  verifyProgram(p)
  verified.add(p)
}

/** Throws SB_SBLR_INVALID unless `p` is a well-formed program. */
export function verifyProgram (p: Program): void {
  if (p === null || typeof p !== 'object') throw invalid('not an object')
  if (!isIndex(p.registers, LIMITS.registers)) throw invalid(`register count ${p.registers}`)
  if (!isIndex(p.params, LIMITS.params)) throw invalid(`parameter count ${p.params}`)
  for (const [name, list, limit] of [['constants', p.constants, LIMITS.constants], ['types', p.types, LIMITS.types],
    ['columns', p.columns, LIMITS.columns], ['outputs', p.outputs, LIMITS.columns], ['aggregates', p.aggregates, LIMITS.aggregates],
    ['code', p.code, LIMITS.code]] as const) {
    if (!Array.isArray(list) || list.length > limit) throw invalid(`${name} must be a list of at most ${limit}`)
  }
  p.types.forEach(checkType)
  for (const c of [...p.columns, ...p.outputs]) {
    if (typeof c?.name !== 'string') throw invalid('column without a name')
    try { checkType(c.type, 0) } catch { throw invalid(`column ${JSON.stringify(c.name.slice(0, 64))} has an invalid type`) }
  }
  for (const a of p.aggregates) if (!AGG_KINDS.includes(a)) throw invalid(`unknown aggregate kind ${String(a)}`)
  p.constants.forEach((c, i) => {
    let ok: boolean
    try { ok = valueClass(c) !== 'uuid' || (c as SqlUuid).uuid.length === 16 } catch { ok = false }
    if (!ok) throw invalid(`constant ${i} is not a SQL value`)
  })

  const code = p.code
  const n = code.length
  if (n === 0) throw invalid('empty code')
  const starts = new Uint8Array(n)
  const jumps: number[] = []
  let pc = 0
  let last = -1
  while (pc < n) {
    const op = code[pc]!
    const info = typeof op === 'number' ? OPCODE_BY_CODE[op] : undefined
    if (info === undefined) throw invalid(`unknown opcode ${op} at ${pc}`, { offset: pc })
    if (pc + 1 + info.operands.length > n) {
      throw invalid(`${info.name} at ${pc} is truncated`, { offset: pc })
    }
    starts[pc] = 1
    last = pc
    for (let k = 0; k < info.operands.length; k++) {
      const v = code[pc + 1 + k]
      const kind = info.operands[k]!
      const bad = (limit: number): never => { throw invalid(`${info.name} at ${pc}: ${kind} operand ${String(v)} out of range (limit ${limit})`, { offset: pc }) }
      switch (kind) {
        case 'reg': if (!isIndex(v, p.registers - 1)) bad(p.registers); break
        case 'count': {
          const first = code[pc + k]!
          if (!isIndex(v, p.registers - first)) bad(p.registers - first)
          break
        }
        case 'const': if (!isIndex(v, p.constants.length - 1)) bad(p.constants.length); break
        case 'param': if (!isIndex(v, p.params - 1)) bad(p.params); break
        case 'col': if (!isIndex(v, p.columns.length - 1)) bad(p.columns.length); break
        case 'type': if (!isIndex(v, p.types.length - 1)) bad(p.types.length); break
        case 'agg': if (!isIndex(v, p.aggregates.length - 1)) bad(p.aggregates.length); break
        case 'jump': if (!isIndex(v, n - 1)) bad(n); jumps.push(v!); break
      }
    }
    if (ARITH_OPS.has(op)) {
      const k = p.types[code[pc + info.operands.length]!]!.kind
      if (!isNumericKind(k) && !(k === 'date' && (op === OP.ADD || op === OP.SUB))) {
        throw invalid(`${info.name} at ${pc}: result type must be numeric (or DATE for ADD/SUB)`, { offset: pc })
      }
    }
    if (op === OP.CAST && p.types[code[pc + 3]!]!.kind === 'null') throw invalid(`CAST at ${pc} to NULL`)
    if (op === OP.EMIT && code[pc + 2] !== p.outputs.length) {
      throw invalid(`EMIT at ${pc} outputs ${code[pc + 2]} registers, the program declares ${p.outputs.length} outputs`, { offset: pc })
    }
    pc += 1 + info.operands.length
  }
  for (const j of jumps) if (starts[j] !== 1) throw invalid(`jump into the middle of an instruction (${j})`, { target: j })
  if (!OPCODE_BY_CODE[code[last]!]!.terminal) throw invalid('the last instruction is not EMIT, SKIP, HALT or JUMP')
}
