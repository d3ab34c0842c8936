// EXPLAIN's view of a program: one line per instruction, derived from the opcode table —
// offset, name, raw operands, and the synopsis with the operands filled in.
import { typeName } from '../types/sql-types'
import { valueToLiteral } from '../types/values'
import { OPCODE_BY_CODE, type OperandKind } from './opcodes'
import type { Program } from './program'

function operandText (kind: OperandKind, v: number): string {
  switch (kind) {
    case 'reg': return `r${v}`
    case 'count': return `#${v}`
    case 'const': return `k${v}`
    case 'param': return `p${v}`
    case 'col': return `c${v}`
    case 'type': return `t${v}`
    case 'jump': return `@${v}`
    case 'agg': return `a${v}`
  }
}

function operandMeaning (p: Program, kinds: readonly OperandKind[], words: readonly number[], k: number): string {
  const v = words[k]!
  switch (kinds[k]) {
    case 'reg': {
      if (kinds[k + 1] !== 'count') return `r${v}`
      const n = words[k + 1]!
      return n === 0 ? '' : n === 1 ? `r${v}` : `r${v}..r${v + n - 1}`
    }
    case 'const': return valueToLiteral(p.constants[v] ?? null)
    case 'param': return `$${v + 1}`
    case 'col': return p.columns[v]?.name ?? `c${v}`
    case 'type': return p.types[v] === undefined ? `t${v}` : typeName(p.types[v])
    case 'jump': return `@${v}`
    case 'agg': return `${p.aggregates[v] ?? '?'}#${v}`
    default: return String(v)
  }
}

/** One line per instruction, e.g. `0004 ADD               r2, r0, r1, t0    ; r2 = r0 + r1 as BIGINT`. */
export function disassemble (p: Program): string[] {
  const lines: string[] = []
  const width = String(Math.max(0, p.code.length - 1)).length
  let pc = 0
  while (pc < p.code.length) {
    const info = OPCODE_BY_CODE[p.code[pc]!]
    if (info === undefined) {
      lines.push(`${String(pc).padStart(width, '0')} ??? ${p.code[pc]}`)
      pc++
      continue
    }
    const words = p.code.slice(pc + 1, pc + 1 + info.operands.length)
    const ops = info.operands.map((kind, k) => operandText(kind, words[k]!)).join(', ')
    const comment = info.synopsis.replace(/\$(\d)/g, (_, d: string) => operandMeaning(p, info.operands, words, Number(d) - 1))
    lines.push(`${String(pc).padStart(width, '0')} ${info.name.padEnd(17)} ${ops.padEnd(18)} ; ${comment}`)
    pc += 1 + info.operands.length
  }
  return lines
}
