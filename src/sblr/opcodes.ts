// THE table of SBLR opcodes (DESIGN §5): number, name, operand kinds and a one-line synopsis.
// The verifier, the VM's dispatch, the disassembler (EXPLAIN) and the compiler all derive from
// it; nothing else lists opcodes. Numbers are part of the serialised format: never renumber,
// only append. 0x8A–0x8F are fixed by the seed.
//
// SBLR is a register machine run once per input row by a scan driver. Every instruction is the
// opcode word followed by one word per operand. A program ends each row with EMIT (output the
// registers given) or SKIP/HALT (no output); control never falls off the end (verified).
//
// Operand kinds:
//   reg    register index                       count  length of the register range that starts
//   const  index into the constant pool                at the preceding reg operand
//   param  statement parameter index (0 = $1)   col    input column index
//   type   index into the program's type table  jump   absolute code offset of an instruction
//   agg    aggregate slot index

export type OperandKind = 'reg' | 'count' | 'const' | 'param' | 'col' | 'type' | 'jump' | 'agg'

export interface OpcodeInfo {
  readonly code: number
  readonly name: string
  readonly operands: readonly OperandKind[]
  /** One line; $1…$n stand for the operands (EXPLAIN substitutes them). */
  readonly synopsis: string
  /** Control does not continue with the next instruction. */
  readonly terminal: boolean
}

type Row = readonly [code: number, name: string, operands: readonly OperandKind[], synopsis: string, terminal?: true]

const R3: readonly OperandKind[] = ['reg', 'reg', 'reg']
const R2: readonly OperandKind[] = ['reg', 'reg']
const ARITH: readonly OperandKind[] = ['reg', 'reg', 'reg', 'type']

const ROWS: readonly Row[] = [
  [0x00, 'NOP', [], 'do nothing'],
  [0x01, 'HALT', [], 'end the row without output', true],
  // Loads
  [0x02, 'LOAD_CONST', ['reg', 'const'], '$1 = $2'],
  [0x03, 'LOAD_PARAM', ['reg', 'param'], '$1 = $2'],
  [0x04, 'LOAD_COLUMN', ['reg', 'col'], '$1 = column $2'],
  [0x05, 'LOAD_NULL', ['reg'], '$1 = NULL'],
  [0x06, 'MOVE', R2, '$1 = $2'],
  // Arithmetic: the type operand is the result type (integer width, DECIMAL(p,s), float kind; DATE
  // for date ± integer days, INTEGER for date − date)
  [0x10, 'ADD', ARITH, '$1 = $2 + $3 as $4'],
  [0x11, 'SUB', ARITH, '$1 = $2 - $3 as $4'],
  [0x12, 'MUL', ARITH, '$1 = $2 * $3 as $4'],
  [0x13, 'DIV', ARITH, '$1 = $2 / $3 as $4'],
  [0x14, 'MOD', ARITH, '$1 = $2 % $3 as $4'],
  [0x15, 'NEG', ['reg', 'reg', 'type'], '$1 = -$2 as $3'],
  [0x16, 'CONCAT', R3, '$1 = $2 || $3'],
  // Comparison (NULL in → NULL out)
  [0x20, 'EQ', R3, '$1 = $2 = $3'],
  [0x21, 'NE', R3, '$1 = $2 <> $3'],
  [0x22, 'LT', R3, '$1 = $2 < $3'],
  [0x23, 'LE', R3, '$1 = $2 <= $3'],
  [0x24, 'GT', R3, '$1 = $2 > $3'],
  [0x25, 'GE', R3, '$1 = $2 >= $3'],
  [0x26, 'IS_NULL', R2, '$1 = $2 IS NULL'],
  [0x27, 'IS_NOT_NULL', R2, '$1 = $2 IS NOT NULL'],
  [0x28, 'LIKE', R3, '$1 = $2 LIKE $3'],
  [0x29, 'IN', ['reg', 'reg', 'reg', 'count'], '$1 = $2 IN ($3)'],
  [0x2a, 'BETWEEN', ['reg', 'reg', 'reg', 'reg'], '$1 = $2 BETWEEN $3 AND $4'],
  // Boolean, three-valued
  [0x30, 'AND', R3, '$1 = $2 AND $3'],
  [0x31, 'OR', R3, '$1 = $2 OR $3'],
  [0x32, 'NOT', R2, '$1 = NOT $2'],
  [0x33, 'IS_TRUE', R2, '$1 = $2 IS TRUE'],
  [0x38, 'CAST', ['reg', 'reg', 'type'], '$1 = CAST($2 AS $3)'],
  // Control
  [0x40, 'JUMP', ['jump'], 'go to $1', true],
  [0x41, 'JUMP_IF_TRUE', ['reg', 'jump'], 'if $1 IS TRUE go to $2'],
  [0x42, 'JUMP_IF_NOT_TRUE', ['reg', 'jump'], 'if $1 is false or NULL go to $2'],
  [0x43, 'JUMP_IF_NULL', ['reg', 'jump'], 'if $1 IS NULL go to $2'],
  [0x48, 'EMIT', ['reg', 'count'], 'output row ($1)', true],
  [0x49, 'SKIP', [], 'filter the row out', true],
  // Scalar functions
  [0x50, 'LOWER', R2, '$1 = lower($2)'],
  [0x51, 'UPPER', R2, '$1 = upper($2)'],
  [0x52, 'LENGTH', R2, '$1 = length($2)'],
  [0x53, 'COALESCE', ['reg', 'reg', 'count'], '$1 = coalesce($2)'],
  [0x54, 'ABS', R2, '$1 = abs($2)'],
  [0x55, 'ROUND', R3, '$1 = round($2, $3)'],
  [0x56, 'NOW', ['reg'], '$1 = now()'],
  [0x57, 'UUID_VERSION', R2, '$1 = uuid_version($2)'],
  // Aggregates: slots declared by the program; partial states merge across shards
  [0x60, 'AGG_INIT', ['agg'], 'reset $1 to its empty state'],
  [0x61, 'AGG_STEP', ['agg', 'reg'], 'fold $2 into $1'],
  [0x62, 'AGG_MERGE', ['agg', 'reg'], 'merge the partial state in $2 into $1'],
  [0x63, 'AGG_PARTIAL', ['reg', 'agg'], '$1 = partial state of $2 (bytes)'],
  [0x64, 'AGG_FINAL', ['reg', 'agg'], '$1 = result of $2'],
  // UUID functions (numbers fixed by the seed)
  [0x8a, 'GEN_UUID_V7', ['reg'], '$1 = gen_uuidv7()'],
  [0x8b, 'GEN_UUID_V8_HLC', ['reg'], '$1 = gen_uuidv8_hlc()'],
  [0x8c, 'UUID_V8_TIMESTAMP', R2, '$1 = uuidv8_timestamp($2)'],
  [0x8d, 'UUID_V8_COUNTER', R2, '$1 = uuidv8_counter($2)'],
  [0x8e, 'UUID_V8_NODE_ID', R2, '$1 = uuidv8_node_id($2)'],
  [0x8f, 'UUID_COMPARE', R3, '$1 = uuid_compare($2, $3)']
]

export const OPCODES: readonly OpcodeInfo[] = ROWS.map(([code, name, operands, synopsis, terminal]) =>
  Object.freeze({ code, name, operands, synopsis, terminal: terminal === true }))

/** Opcode info by number (undefined = not an opcode). */
export const OPCODE_BY_CODE: ReadonlyArray<OpcodeInfo | undefined> = (() => {
  const t = new Array<OpcodeInfo | undefined>(256).fill(undefined)
  for (const o of OPCODES) t[o.code] = o
  return t
})()

export const OPCODE_BY_NAME: ReadonlyMap<string, OpcodeInfo> = new Map(OPCODES.map((o) => [o.name, o]))

function code (name: string): number {
  const o = OPCODE_BY_NAME.get(name)
  if (o === undefined) throw new Error(`SBLR: no opcode ${name}`)
  return o.code
}

/** Opcode numbers by name, for the VM's switch and the compiler (`OP.ADD`). */
export const OP = {
  NOP: code('NOP'),
  HALT: code('HALT'),
  LOAD_CONST: code('LOAD_CONST'),
  LOAD_PARAM: code('LOAD_PARAM'),
  LOAD_COLUMN: code('LOAD_COLUMN'),
  LOAD_NULL: code('LOAD_NULL'),
  MOVE: code('MOVE'),
  ADD: code('ADD'),
  SUB: code('SUB'),
  MUL: code('MUL'),
  DIV: code('DIV'),
  MOD: code('MOD'),
  NEG: code('NEG'),
  CONCAT: code('CONCAT'),
  EQ: code('EQ'),
  NE: code('NE'),
  LT: code('LT'),
  LE: code('LE'),
  GT: code('GT'),
  GE: code('GE'),
  IS_NULL: code('IS_NULL'),
  IS_NOT_NULL: code('IS_NOT_NULL'),
  LIKE: code('LIKE'),
  IN: code('IN'),
  BETWEEN: code('BETWEEN'),
  AND: code('AND'),
  OR: code('OR'),
  NOT: code('NOT'),
  IS_TRUE: code('IS_TRUE'),
  CAST: code('CAST'),
  JUMP: code('JUMP'),
  JUMP_IF_TRUE: code('JUMP_IF_TRUE'),
  JUMP_IF_NOT_TRUE: code('JUMP_IF_NOT_TRUE'),
  JUMP_IF_NULL: code('JUMP_IF_NULL'),
  EMIT: code('EMIT'),
  SKIP: code('SKIP'),
  LOWER: code('LOWER'),
  UPPER: code('UPPER'),
  LENGTH: code('LENGTH'),
  COALESCE: code('COALESCE'),
  ABS: code('ABS'),
  ROUND: code('ROUND'),
  NOW: code('NOW'),
  UUID_VERSION: code('UUID_VERSION'),
  AGG_INIT: code('AGG_INIT'),
  AGG_STEP: code('AGG_STEP'),
  AGG_MERGE: code('AGG_MERGE'),
  AGG_PARTIAL: code('AGG_PARTIAL'),
  AGG_FINAL: code('AGG_FINAL'),
  GEN_UUID_V7: code('GEN_UUID_V7'),
  GEN_UUID_V8_HLC: code('GEN_UUID_V8_HLC'),
  UUID_V8_TIMESTAMP: code('UUID_V8_TIMESTAMP'),
  UUID_V8_COUNTER: code('UUID_V8_COUNTER'),
  UUID_V8_NODE_ID: code('UUID_V8_NODE_ID'),
  UUID_COMPARE: code('UUID_COMPARE')
} as const

/** Aggregate kinds a program's slots can have; the index is the serialised number. */
export const AGG_KINDS = ['count_star', 'count', 'sum', 'avg', 'min', 'max'] as const
export type AggKind = typeof AGG_KINDS[number]
