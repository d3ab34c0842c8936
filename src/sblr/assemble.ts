// A tiny assembler over the opcode table: instructions by name, jump operands by label. For the
// compiler and for hand-written test programs, so nobody counts code offsets by hand.
import { assert } from '../core/errors'
import { OPCODE_BY_NAME } from './opcodes'

/** `['ADD', 2, 0, 1, 0]`, a jump `['JUMP', 'end']`, or a label `'end:'`. */
export type AsmLine = string | readonly [name: string, ...operands: Array<number | string>]

/** Code words for the lines; labels resolve to the offset of the next instruction. */
export function assemble (lines: readonly AsmLine[]): number[] {
  const labels = new Map<string, number>()
  let off = 0
  for (const line of lines) {
    if (typeof line === 'string') {
      assert(line.endsWith(':') && !labels.has(line.slice(0, -1)), `bad or duplicate label ${line}`)
      labels.set(line.slice(0, -1), off)
    } else {
      const info = OPCODE_BY_NAME.get(line[0])
      assert(info !== undefined, `unknown opcode ${line[0]}`)
      assert(line.length - 1 === info.operands.length, `${line[0]} takes ${info.operands.length} operands`)
      off += line.length
    }
  }
  const code: number[] = []
  for (const line of lines) {
    if (typeof line === 'string') continue
    const info = OPCODE_BY_NAME.get(line[0])!
    code.push(info.code)
    line.slice(1).forEach((v, i) => {
      if (typeof v === 'number') { code.push(v); return }
      assert(info.operands[i] === 'jump' && labels.has(v), `operand ${v} of ${line[0]} is not a known label`)
      code.push(labels.get(v)!)
    })
  }
  return code
}
