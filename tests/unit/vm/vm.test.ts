import { describe, expect, it } from 'vitest'
import { type ErrorCode, isScratchBirdError } from '../../../src/core/errors'
import { uuidv8NodeId } from '../../../src/core/hlc'
import { uuidVersion } from '../../../src/core/uuid'
import { Decimal, parseDecimal } from '../../../src/types/decimal'
import { parseDate, SqlTimestamp } from '../../../src/types/datetime'
import { encodeRow, RowImage } from '../../../src/types/row-codec'
import { decimalType, T, type SqlType } from '../../../src/types/sql-types'
import { SqlUuid, type SqlValue } from '../../../src/types/values'
import { deserialize, serialize } from '../../../src/sblr/program'
import { MAX_INSTRUCTIONS_PER_ROW, Vm } from '../../../src/vm/vm'
import { cols, context, NODE_ID, program, runRows } from './helpers'

function errCode (f: () => unknown): ErrorCode | 'ok' | 'other' {
  try { f(); return 'ok' } catch (e) { return isScratchBirdError(e) ? e.code : 'other' }
}

describe('VM: UUID functions', () => {
  it('gen_uuidv8_hlc() returns a valid v8 with the node id', () => {
    const p = program({ outputs: cols('u'), asm: [['GEN_UUID_V8_HLC', 0], ['EMIT', 0, 1]] })
    const vm = new Vm(deserialize(serialize(p)), context())
    const [u] = vm.run()! as [SqlUuid]
    expect(u).toBeInstanceOf(SqlUuid)
    expect(uuidVersion(u.uuid)).toBe(8)
    expect(u.uuid[8]! >> 6).toBe(0b10)
    expect(uuidv8NodeId(u.uuid)).toBe(NODE_ID)
    const [u2] = vm.run()! as [SqlUuid]
    expect(Buffer.compare(u2.uuid, u.uuid)).toBe(1) // strictly increasing
  })

  it('uuidv8_timestamp(gen_uuidv8_hlc()) ≈ now, and the other UUID functions', () => {
    const ctx = context()
    const p = program({
      outputs: cols('ts', 'counter', 'node', 'version', 'cmp', 'v7version'),
      asm: [
        ['GEN_UUID_V8_HLC', 0],
        ['UUID_V8_TIMESTAMP', 1, 0],
        ['UUID_V8_COUNTER', 2, 0],
        ['UUID_V8_NODE_ID', 3, 0],
        ['UUID_VERSION', 4, 0],
        ['GEN_UUID_V8_HLC', 7],
        ['UUID_COMPARE', 5, 0, 7],
        ['GEN_UUID_V7', 7],
        ['UUID_VERSION', 6, 7],
        ['EMIT', 1, 6]
      ]
    })
    const [ts, counter, node, version, cmp, v7] = new Vm(p, ctx).run()!
    expect(ts).toEqual(new SqlTimestamp(BigInt(ctx.clock.now()) * 1000n))
    expect([counter, node, version, cmp, v7]).toEqual([0n, BigInt(NODE_ID), 8n, -1n, 7n])
  })

  it('UUID functions reject non-UUIDs and pass NULL through', () => {
    const p = program({ constants: ['x', null], outputs: cols('n'), asm: [['LOAD_CONST', 0, 0], ['UUID_V8_NODE_ID', 1, 0], ['EMIT', 1, 1]] })
    expect(errCode(() => new Vm(p, context()).run())).toBe('SB_DATATYPE_MISMATCH')
    const q = program({ constants: [null], outputs: cols('n'), asm: [['LOAD_CONST', 0, 0], ['UUID_V8_NODE_ID', 1, 0], ['EMIT', 1, 1]] })
    expect(new Vm(q, context()).run()).toEqual([null])
  })
})

describe('VM: scan programs', () => {
  // SELECT name, price * qty AS total FROM items WHERE qty > $1 AND name LIKE 'a%'
  const types: SqlType[] = [T.text, decimalType(10, 2), T.integer]
  const filter = program({
    params: 1,
    constants: ['a%'],
    types: [T.numeric],
    columns: [{ name: 'name', type: T.text }, { name: 'price', type: decimalType(10, 2) }, { name: 'qty', type: T.integer }],
    outputs: [{ name: 'name', type: T.text }, { name: 'total', type: T.numeric }],
    asm: [
      ['LOAD_COLUMN', 0, 2],
      ['LOAD_PARAM', 1, 0],
      ['GT', 2, 0, 1],
      ['LOAD_COLUMN', 3, 0],
      ['LOAD_CONST', 4, 0],
      ['LIKE', 5, 3, 4],
      ['AND', 2, 2, 5],
      ['JUMP_IF_NOT_TRUE', 2, 'skip'],
      ['LOAD_COLUMN', 6, 1],
      ['MUL', 7, 6, 0, 0],
      ['MOVE', 6, 3],
      ['EMIT', 6, 2],
      'skip:',
      ['SKIP']
    ]
  })
  const rows: SqlValue[][] = [
    ['apple', new Decimal(150n, 2), 3n],
    ['avocado', new Decimal(99n, 2), 1n],
    ['banana', new Decimal(25n, 2), 10n],
    ['apricot', null, 5n],
    [null, new Decimal(1n, 0), 9n],
    ['almond', new Decimal(10n, 2), null]
  ]
  const expected = [['apple', new Decimal(450n, 2)], ['apricot', null]]

  it('filters and projects decoded rows', () => {
    expect(runRows(new Vm(filter, context([1n])), rows)).toEqual(expected)
  })

  it('filters and projects row images, decoding columns lazily', () => {
    const vm = new Vm(filter, context([1n]))
    const out = rows.map((r) => vm.run(new RowImage(types, encodeRow(types, r)))).filter((r) => r !== null)
    expect(out).toEqual(expected)
  })

  it('refuses to run without its parameters', () => {
    expect(errCode(() => new Vm(filter, context([])))).toBe('SB_BAD_ARGUMENT')
  })

  it('CASE via jumps', () => {
    // CASE WHEN x < 0 THEN 'neg' WHEN x = 0 THEN 'zero' ELSE 'pos' END
    const p = program({
      constants: [0n, 'neg', 'zero', 'pos'],
      columns: [{ name: 'x', type: T.integer }],
      outputs: cols('sign'),
      asm: [
        ['LOAD_COLUMN', 0, 0],
        ['LOAD_CONST', 1, 0],
        ['LT', 2, 0, 1],
        ['JUMP_IF_NOT_TRUE', 2, 'when2'],
        ['LOAD_CONST', 3, 1],
        ['JUMP', 'end'],
        'when2:',
        ['EQ', 2, 0, 1],
        ['JUMP_IF_NOT_TRUE', 2, 'else'],
        ['LOAD_CONST', 3, 2],
        ['JUMP', 'end'],
        'else:',
        ['LOAD_CONST', 3, 3],
        'end:',
        ['EMIT', 3, 1]
      ]
    })
    const vm = new Vm(p, context())
    expect(runRows(vm, [[-5n], [0n], [7n], [null]])).toEqual([['neg'], ['zero'], ['pos'], ['pos']])
  })

  it('stops a runaway program at the instruction bound', () => {
    const p = program({ asm: ['top:', ['JUMP', 'top']] })
    let err: unknown
    try { new Vm(p, context()).run() } catch (e) { err = e }
    expect(isScratchBirdError(err, 'SB_PROGRAM_LIMIT_EXCEEDED')).toBe(true)
    expect((err as { details: { limit: number } }).details.limit).toBe(MAX_INSTRUCTIONS_PER_ROW)
    expect(errCode(() => new Vm(p, { ...context(), maxInstructionsPerRow: 10 }).run())).toBe('SB_PROGRAM_LIMIT_EXCEEDED')
  })

  it('verifies programs at load', () => {
    const bad = { ...program({ asm: [['SKIP']] }), code: [0x04, 0, 9, 0x49] }
    expect(errCode(() => new Vm(bad, context()))).toBe('SB_SBLR_INVALID')
  })
})

/** Evaluate one expression over constants: `OP dst=0, args…`. */
function evalOp (name: string, args: SqlValue[], extra: Array<number | string> = [], types: SqlType[] = []): SqlValue {
  const loads = args.map((_, i) => ['LOAD_CONST', i + 1, i] as const)
  const p = program({
    constants: args,
    types,
    outputs: cols('r'),
    asm: [...loads, [name, 0, ...args.map((_, i) => i + 1), ...extra], ['EMIT', 0, 1]]
  })
  return new Vm(p, context()).run()![0]!
}

describe('VM: operators and functions', () => {
  it('arithmetic by result type, with SQL errors', () => {
    expect(evalOp('ADD', [parseDecimal('0.1'), parseDecimal('0.2')], [0], [T.numeric])).toEqual(parseDecimal('0.3'))
    expect(evalOp('DIV', [7n, 2n], [0], [T.integer])).toBe(3n)
    expect(evalOp('DIV', [-7n, 2n], [0], [T.integer])).toBe(-3n)
    expect(evalOp('MOD', [-7n, 2n], [0], [T.integer])).toBe(-1n)
    expect(evalOp('DIV', [7n, 2n], [0], [T.double])).toBe(3.5)
    expect(evalOp('ADD', [1n, null], [0], [T.integer])).toBe(null)
    expect(errCode(() => evalOp('DIV', [1n, 0n], [0], [T.integer]))).toBe('SB_DIVISION_BY_ZERO')
    expect(errCode(() => evalOp('DIV', [1, 0], [0], [T.double]))).toBe('SB_DIVISION_BY_ZERO')
    expect(errCode(() => evalOp('ADD', [2147483647n, 1n], [0], [T.integer]))).toBe('SB_NUMERIC_OUT_OF_RANGE')
    expect(evalOp('ADD', [2147483647n, 1n], [0], [T.bigint])).toBe(2147483648n)
    expect(errCode(() => evalOp('MUL', [1e200, 1e200], [0], [T.double]))).toBe('SB_NUMERIC_OUT_OF_RANGE')
    expect(errCode(() => evalOp('MUL', [parseDecimal('999.99'), 10n], [0], [decimalType(5, 2)]))).toBe('SB_NUMERIC_OUT_OF_RANGE')
    expect(errCode(() => evalOp('ADD', ['a', 1n], [0], [T.integer]))).toBe('SB_DATATYPE_MISMATCH')
    expect(evalOp('NEG', [5n], [0], [T.smallint])).toBe(-5n)
    expect(errCode(() => evalOp('NEG', [-32768n], [0], [T.smallint]))).toBe('SB_NUMERIC_OUT_OF_RANGE')
  })

  it('date arithmetic', () => {
    const d = parseDate('2024-02-28')
    expect(evalOp('ADD', [d, 2n], [0], [T.date])).toEqual(parseDate('2024-03-01'))
    expect(evalOp('ADD', [1n, d], [0], [T.date])).toEqual(parseDate('2024-02-29'))
    expect(evalOp('SUB', [d, 365n], [0], [T.date])).toEqual(parseDate('2023-02-28'))
    expect(evalOp('SUB', [parseDate('2024-03-01'), d], [0], [T.integer])).toBe(2n)
    expect(errCode(() => evalOp('ADD', [d, d], [0], [T.integer]))).toBe('SB_DATATYPE_MISMATCH')
    expect(errCode(() => evalOp('ADD', [parseDate('9999-12-31'), 1n], [0], [T.date]))).toBe('SB_DATETIME_FIELD_OVERFLOW')
    expect(errCode(() => evalOp('MUL', [d, 2n], [0], [T.date]))).toBe('SB_SBLR_INVALID')
  })

  it('comparison and boolean operators follow 3VL', () => {
    expect(evalOp('EQ', [1n, new Decimal(10n, 1)])).toBe(true)
    expect(evalOp('LT', [null, 1n])).toBe(null)
    expect(evalOp('AND', [false, null])).toBe(false)
    expect(evalOp('OR', [true, null])).toBe(true)
    expect(evalOp('NOT', [null])).toBe(null)
    expect(evalOp('IS_NULL', [null])).toBe(true)
    expect(evalOp('IS_TRUE', [null])).toBe(false)
    expect(errCode(() => evalOp('AND', [1n, true]))).toBe('SB_DATATYPE_MISMATCH')
    expect(evalOp('BETWEEN', [5n, 1n, 10n])).toBe(true)
    expect(evalOp('BETWEEN', [5n, null, 4n])).toBe(false)
    expect(evalOp('BETWEEN', [5n, null, 10n])).toBe(null)
  })

  it('IN with NULLs', () => {
    const inOp = (a: SqlValue, list: SqlValue[]): SqlValue => {
      const p = program({
        constants: [a, ...list],
        outputs: cols('r'),
        asm: [['LOAD_CONST', 1, 0], ...list.map((_, i) => ['LOAD_CONST', 2 + i, 1 + i] as const), ['IN', 0, 1, 2, list.length], ['EMIT', 0, 1]]
      })
      return new Vm(p, context()).run()![0]!
    }
    expect(inOp(2n, [1n, 2n])).toBe(true)
    expect(inOp(3n, [1n, 2n])).toBe(false)
    expect(inOp(3n, [1n, null])).toBe(null)
    expect(inOp(1n, [1n, null])).toBe(true)
    expect(inOp(null, [1n])).toBe(null)
  })

  it('LIKE, string functions, CAST, COALESCE, ROUND, ABS, NOW', () => {
    expect(evalOp('LIKE', ['hello', 'h_l%o'])).toBe(true)
    expect(evalOp('LIKE', ['hello', 'h%x'])).toBe(false)
    expect(evalOp('LIKE', ['50%', '50\\%'])).toBe(true)
    expect(evalOp('LIKE', ['😀x', '_x'])).toBe(true)
    expect(evalOp('LIKE', ['a'.repeat(2000), '%a%a%a%a%a%a%a%a%b'])).toBe(false) // no backtracking blow-up
    expect(evalOp('CONCAT', ['a', 1n])).toBe('a1')
    expect(evalOp('CONCAT', ['a', null])).toBe(null)
    expect(evalOp('LOWER', ['ÀB'])).toBe('àb')
    expect(evalOp('UPPER', ['ab'])).toBe('AB')
    expect(evalOp('LENGTH', ['😀ab'])).toBe(3n)
    expect(evalOp('ABS', [new Decimal(-5n, 1)])).toEqual(new Decimal(5n, 1))
    expect(evalOp('ROUND', [parseDecimal('2.345'), 2n])).toEqual(parseDecimal('2.35'))
    expect(evalOp('ROUND', [2.5, 0n])).toBe(2)
    expect(evalOp('CAST', ['12'], [0], [T.smallint])).toBe(12n)
    expect(errCode(() => evalOp('CAST', ['x'], [0], [T.smallint]))).toBe('SB_INVALID_TEXT_REPRESENTATION')
    const p = program({
      constants: [null, 5n],
      outputs: cols('c', 'now'),
      asm: [['LOAD_CONST', 1, 0], ['LOAD_CONST', 2, 0], ['LOAD_CONST', 3, 1], ['COALESCE', 0, 1, 3], ['NOW', 4], ['MOVE', 1, 4], ['EMIT', 0, 2]]
    })
    const ctx = context()
    const vm = new Vm(p, ctx)
    const first = vm.run()!
    ctx.clock.advance(5000)
    expect(vm.run()).toEqual(first) // now() is stable within a statement
    expect(first).toEqual([5n, new SqlTimestamp(BigInt(ctx.clock.now() - 5000) * 1000n)])
  })
})
