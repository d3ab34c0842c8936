// The recorded history of a chaos run (issue 21 item 2): every client operation with when it
// started and ended (ms since the run began, one client clock) and its outcome. "unknown" is an
// operation whose effect the client cannot know (a timeout, a reset, an error returned after the
// request may have been applied): checkers treat it as maybe applied, maybe not.

export type Outcome = 'ok' | 'fail' | 'unknown'

export interface Op {
  /** Client loop that issued it (operations of one process never overlap). */
  readonly process: number
  /** Node the client sent it to. */
  readonly node: number
  readonly f: 'insert' | 'delete' | 'write' | 'read'
  readonly key: number
  /** write: the value written; read: the value read (null: no row). */
  readonly value: number | null
  readonly start: number
  readonly end: number
  readonly outcome: Outcome
  /** Error code or message when not ok. */
  readonly error?: string
}

/** Every operation a checker found wrong, by kind, with a few examples. */
export interface Anomalies {
  readonly counts: Record<string, number>
  readonly examples: string[]
}

export function anomalies (): { counts: Record<string, number>, examples: string[], add: (kind: string, example: string) => void } {
  const counts: Record<string, number> = {}
  const examples: string[] = []
  return {
    counts,
    examples,
    add (kind, example) {
      counts[kind] = (counts[kind] ?? 0) + 1
      if (examples.length < 20) examples.push(`${kind}: ${example}`)
    }
  }
}

export function total (a: Anomalies): number {
  return Object.values(a.counts).reduce((x, y) => x + y, 0)
}
