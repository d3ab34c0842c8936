// fast-check arbitraries of SQL types and values, shared by the sql, sblr and vm tests.
import fc from 'fast-check'
import { Decimal } from '../../../src/types/decimal'
import { MAX_DAYS, MAX_MICROS, MIN_DAYS, MIN_MICROS, SqlDate, SqlTimestamp } from '../../../src/types/datetime'
import { charType, decimalType, INT_RANGES, isNumericKind, type SqlType, T } from '../../../src/types/sql-types'
import { type AggKind, AGG_KINDS, OPCODES, OP, type OpcodeInfo } from '../../../src/sblr/opcodes'
import type { Program, ProgramColumn } from '../../../src/sblr/program'
import { SqlUuid, type SqlValue } from '../../../src/types/values'

/** Well-formed strings over all of Unicode (no lone surrogates: they cannot be stored as UTF-8). */
export const textArb = fc.string({ unit: 'binary', maxLength: 12 }).filter((s) => {
  try { encodeURIComponent(s); return true } catch { return false }
})

export const typeArb: fc.Arbitrary<SqlType> = fc.oneof(
  fc.constantFrom<SqlType>(T.boolean, T.smallint, T.integer, T.bigint, T.numeric, T.real, T.double, T.text,
    T.varchar, T.bytea, T.uuid, T.date, T.timestamp),
  fc.integer({ min: 1, max: 30 }).chain((p) => fc.integer({ min: 0, max: p }).map((s) => decimalType(p, s))),
  fc.integer({ min: 1, max: 8 }).map((n) => charType('char', n)),
  fc.integer({ min: 1, max: 8 }).map((n) => charType('varchar', n))
)

export function decimalArb (precision = 30, scale?: number): fc.Arbitrary<Decimal> {
  const lim = 10n ** BigInt(precision) - 1n
  const scaleArb = scale === undefined ? fc.integer({ min: 0, max: precision }) : fc.constant(scale)
  return fc.tuple(fc.bigInt({ min: -lim, max: lim }), scaleArb).map(([u, s]) => new Decimal(u, s))
}

/** A non-NULL value of type t, in t's representation (char values blank-padded). */
export function valueArb (t: SqlType): fc.Arbitrary<NonNullable<SqlValue>> {
  switch (t.kind) {
    case 'boolean': return fc.boolean()
    case 'smallint': case 'integer': case 'bigint': return fc.bigInt(INT_RANGES[t.kind])
    case 'decimal': return t.precision === undefined ? decimalArb() : decimalArb(t.precision, t.scale)
    case 'real': return fc.float()
    case 'double': return fc.double()
    case 'text': return textArb
    case 'varchar': return t.length === undefined ? textArb : textArb.map((s) => [...s].slice(0, t.length).join(''))
    case 'char': return textArb.map((s) => { const cps = [...s].slice(0, t.length); return cps.join('') + ' '.repeat(t.length! - cps.length) })
    case 'bytea': return fc.uint8Array({ maxLength: 12 })
    case 'uuid': return fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => new SqlUuid(b))
    case 'date': return fc.integer({ min: MIN_DAYS, max: MAX_DAYS }).map((d) => new SqlDate(d))
    case 'timestamp': return fc.bigInt({ min: MIN_MICROS, max: MAX_MICROS }).map((m) => new SqlTimestamp(m))
  }
  throw new Error(`no arbitrary for ${t.kind}`)
}

export function nullableValueArb (t: SqlType): fc.Arbitrary<SqlValue> {
  return fc.option(valueArb(t), { freq: 5, nil: null })
}

// ---------------------------------------------------------------------------------------------
// Random valid SBLR programs (every operand in range, jumps onto instructions, EMIT/SKIP last).

const ARITH_CODES = new Set<number>([OP.ADD, OP.SUB, OP.MUL, OP.DIV, OP.MOD, OP.NEG])
const columnArb: fc.Arbitrary<ProgramColumn> = fc.record({ name: textArb, type: typeArb })

export const programArb: fc.Arbitrary<Program> = fc.record({
  registers: fc.integer({ min: 4, max: 12 }),
  params: fc.integer({ min: 0, max: 3 }),
  constants: fc.array(typeArb.chain(nullableValueArb), { maxLength: 5 }),
  types: fc.array(typeArb, { maxLength: 4 }).map((ts) => [T.bigint, ...ts]),
  columns: fc.array(columnArb, { maxLength: 4 }),
  outputs: fc.array(columnArb, { maxLength: 4 }),
  aggregates: fc.array(fc.constantFrom<AggKind>(...AGG_KINDS), { maxLength: 3 }),
  ops: fc.array(fc.tuple(fc.constantFrom<OpcodeInfo>(...OPCODES.filter((o) => !o.terminal || o.name === 'JUMP' || o.name === 'HALT')),
    fc.array(fc.nat(), { minLength: 4, maxLength: 4 })), { maxLength: 12 }),
  end: fc.boolean()
}).map(({ ops, end, ...p }) => {
  const numericTypes = p.types.flatMap((t, i) => isNumericKind(t.kind) ? [i] : [])
  const pick = (n: number, size: number): number => n % size
  // Offsets of each instruction, to turn "jump to instruction k" into a code offset.
  const offsets: number[] = []
  let off = 0
  for (const [info] of ops) { offsets.push(off); off += 1 + info.operands.length }
  offsets.push(off) // the final EMIT/SKIP
  const code: number[] = []
  const usable = (info: OpcodeInfo): boolean => info.operands.every((k) =>
    (k !== 'const' || p.constants.length > 0) && (k !== 'param' || p.params > 0) && (k !== 'col' || p.columns.length > 0) &&
    (k !== 'agg' || p.aggregates.length > 0))
  for (const [info, raw] of ops) {
    if (!usable(info)) { code.push(OP.NOP, ...new Array<number>(info.operands.length).fill(OP.NOP)); continue }
    code.push(info.code)
    info.operands.forEach((k, i) => {
      const v = raw[i]!
      switch (k) {
        case 'reg': code.push(pick(v, p.registers)); break
        case 'count': code.push(pick(v, p.registers - code[code.length - 1]! + 1)); break
        case 'const': code.push(pick(v, p.constants.length)); break
        case 'param': code.push(pick(v, p.params)); break
        case 'col': code.push(pick(v, p.columns.length)); break
        case 'type': code.push(ARITH_CODES.has(info.code) ? numericTypes[pick(v, numericTypes.length)]! : pick(v, p.types.length)); break
        case 'jump': code.push(offsets[pick(v, offsets.length)]!); break
        case 'agg': code.push(pick(v, p.aggregates.length)); break
      }
    })
  }
  const outputs = p.outputs.slice(0, p.registers)
  if (end) code.push(OP.EMIT, 0, outputs.length)
  else code.push(OP.SKIP)
  return { ...p, outputs, code }
})
