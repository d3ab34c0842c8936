import { anomalies, type Anomalies, type Op } from './history'

// Linearizability of single-key registers (issue 21 item 2, primary/replica tables), in the style
// of Knossos and Porcupine: Wing & Gong's search with Lowe's memoisation. A history is
// linearizable when each operation can be given one instant between its start and its end such
// that, in that order, every read returns the last value written (or null before any write).
//
// Keys are independent (a register per key), so each key is checked alone (P-compositionality).
// Operations the client cannot know the fate of ("unknown") may have taken effect at any instant
// after they started, or never: a write gets end = +∞ (placing it after everything is the same as
// it never happening); an unknown read tells nothing and is dropped, as are failed operations.
// An unknown write whose value no successful read returned is dropped before the search: "never
// happened" is always a legal place for it, and any order that places it somewhere stays legal
// without it (no read depends on it). Chaos runs leave hundreds of such writes (timeouts during a
// partition), each of which would otherwise double the orders to try.
// The search is exponential in the worst case: a budget of steps per key bounds it, and a key
// whose search ran out is reported as 'undecided', not as linearizable.

interface Entry {
  readonly op: number
  readonly call: boolean
  readonly time: number
  prev: Entry | null
  next: Entry | null
  match: Entry | null // the call's return entry, and back
}

export interface LinearizabilityResult extends Anomalies {
  /** Keys whose search exceeded the step budget. */
  readonly undecided: number[]
}

const DEFAULT_BUDGET = 2_000_000

export function checkLinearizableRegisters (history: readonly Op[], options: { initial?: number | null, budget?: number } = {}): LinearizabilityResult {
  const a = anomalies()
  const undecided: number[] = []
  const byKey = new Map<number, Op[]>()
  const read = new Set<string>()
  for (const op of history) if (op.f === 'read' && op.outcome === 'ok') read.add(`${op.key}|${String(op.value)}`)
  for (const op of history) {
    if (op.f !== 'read' && op.f !== 'write') continue
    if (op.outcome === 'fail') continue
    if (op.f === 'read' && op.outcome !== 'ok') continue
    if (op.f === 'write' && op.outcome === 'unknown' && !read.has(`${op.key}|${String(op.value)}`)) continue
    let ops = byKey.get(op.key)
    if (ops === undefined) byKey.set(op.key, ops = [])
    ops.push(op)
  }
  for (const [key, ops] of byKey) {
    const verdict = checkKey(ops, options.initial ?? null, options.budget ?? DEFAULT_BUDGET)
    if (verdict === 'undecided') undecided.push(key)
    else if (verdict !== null) a.add('non-linearizable', `key ${key}: ${verdict}`)
  }
  return { counts: a.counts, examples: a.examples, undecided }
}

/** null when linearizable, 'undecided' past the budget, else a description of where it failed. */
function checkKey (ops: readonly Op[], initial: number | null, budget: number): string | null | 'undecided' {
  const n = ops.length
  const events: Entry[] = []
  for (let i = 0; i < n; i++) {
    const op = ops[i]!
    const end = op.outcome === 'ok' ? op.end : Number.POSITIVE_INFINITY
    const call: Entry = { op: i, call: true, time: op.start, prev: null, next: null, match: null }
    const ret: Entry = { op: i, call: false, time: end, prev: null, next: null, match: null }
    call.match = ret
    ret.match = call
    events.push(call, ret)
  }
  // By time; at equal times a return comes first (an operation that ended when another started
  // precedes it).
  events.sort((x, y) => x.time - y.time || (x.call === y.call ? 0 : x.call ? 1 : -1))
  const head: Entry = { op: -1, call: false, time: -1, prev: null, next: null, match: null }
  let last = head
  for (const e of events) { last.next = e; e.prev = last; last = e }

  const lift = (e: Entry): void => {
    e.prev!.next = e.next
    if (e.next !== null) e.next.prev = e.prev
    const r = e.match!
    r.prev!.next = r.next
    if (r.next !== null) r.next.prev = r.prev
  }
  const unlift = (e: Entry): void => {
    const r = e.match!
    r.prev!.next = r
    if (r.next !== null) r.next.prev = r
    e.prev!.next = e
    if (e.next !== null) e.next.prev = e
  }

  // Which operations are placed, as a bitset: its words as a string key the memo (16 operations
  // a character, so a step costs n/16, not n).
  const linearized = new Uint16Array(Math.ceil(n / 16))
  const mark = (i: number, on: boolean): void => { if (on) linearized[i >> 4]! |= 1 << (i & 15); else linearized[i >> 4]! &= ~(1 << (i & 15)) }
  const seen = new Set<string>()
  const stack: Array<{ entry: Entry, state: number | null }> = []
  let state = initial
  let entry = head.next
  let steps = 0
  let deepest = 0
  let stuckAt = -1 // the operation that could not be placed when the search was deepest
  while (head.next !== null) {
    if (++steps > budget) return 'undecided'
    if (entry === null) return 'search fell off the history (a bug of the checker)'
    if (entry.call) {
      const op = ops[entry.op]!
      const applies = op.f === 'write' || op.value === state
      const next = op.f === 'write' ? op.value : state
      if (applies) {
        mark(entry.op, true)
        const memo = `${next}|${String.fromCharCode(...linearized)}`
        if (!seen.has(memo)) {
          seen.add(memo)
          stack.push({ entry, state })
          if (stack.length > deepest) deepest = stack.length
          state = next
          lift(entry)
          entry = head.next
          continue
        }
        mark(entry.op, false)
      }
      entry = entry.next
    } else {
      // A return reached with its call not linearized: undo the last choice.
      if (stuckAt < 0 || stack.length >= deepest) stuckAt = entry.op
      if (stack.length === 0) {
        const stuck = ops[stuckAt]!
        return `no order explains ${stuck.f} ${String(stuck.value)} by process ${stuck.process} on node ${stuck.node} [${stuck.start}, ${stuck.outcome === 'ok' ? stuck.end : '?'}] ms (${deepest} of ${n} operations placed at best)`
      }
      const top = stack.pop()!
      state = top.state
      mark(top.entry.op, false)
      unlift(top.entry)
      entry = top.entry.next
    }
  }
  return null
}
