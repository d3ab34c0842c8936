import { SeededRng } from '../../src/core/rng'

// The nemesis of a chaos run (issue 21 item 1): a schedule of faults drawn from one seed, so
// `SEED=…` replays the same faults at the same offsets. Each step applies one fault (or two at
// once) for a few seconds, then heals everything and lets the cluster breathe before the next.

export type Fault =
  | { kind: 'kill', node: number, downMs: number }
  | { kind: 'pause', node: number, pauseMs: number }
  | { kind: 'isolate', node: number }
  | { kind: 'partition', groups: number[][] }
  | { kind: 'bridge', left: number, bridge: number, right: number }
  | { kind: 'one-way', from: number, to: number }
  | { kind: 'slow', node: number, delayMs: number }
  | { kind: 'clock', node: number, offsetMs: number }
  | { kind: 'disk-full', node: number }

export interface NemesisStep {
  /** ms after the workload starts. */
  readonly at: number
  readonly faults: Fault[]
  /** How long the faults stay before everything is healed. */
  readonly holdMs: number
}

export const FAULT_KINDS = ['kill', 'pause', 'isolate', 'partition', 'bridge', 'one-way', 'slow', 'clock', 'disk-full'] as const

function pick<T> (rng: SeededRng, xs: readonly T[]): T {
  return xs[Math.floor(rng.next() * xs.length)]!
}

function int (rng: SeededRng, lo: number, hi: number): number {
  return lo + Math.floor(rng.next() * (hi - lo + 1))
}

function shuffled (rng: SeededRng, xs: readonly number[]): number[] {
  const out = [...xs]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

/** One fault over nodes 1..n, from `kinds`. */
export function drawFault (rng: SeededRng, n: number, kinds: readonly Fault['kind'][]): Fault {
  const ids = Array.from({ length: n }, (_, i) => i + 1)
  const node = pick(rng, ids)
  switch (pick(rng, kinds)) {
    case 'kill': return { kind: 'kill', node, downMs: int(rng, 1000, 4000) }
    case 'pause': return { kind: 'pause', node, pauseMs: int(rng, 2000, 8000) }
    case 'isolate': return { kind: 'isolate', node }
    case 'partition': {
      const s = shuffled(rng, ids)
      const cut = int(rng, 1, Math.floor(n / 2)) // minority | majority
      return { kind: 'partition', groups: [s.slice(0, cut), s.slice(cut)] }
    }
    case 'bridge': {
      const [l, b, r] = shuffled(rng, ids)
      return { kind: 'bridge', left: l!, bridge: b!, right: r! }
    }
    case 'one-way': {
      const [from, to] = shuffled(rng, ids)
      return { kind: 'one-way', from: from!, to: to! }
    }
    case 'slow': return { kind: 'slow', node, delayMs: int(rng, 50, 400) }
    // Within ±200 ms: two nodes stay inside node.max_clock_offset_ms (500) of each other.
    case 'clock': return { kind: 'clock', node, offsetMs: (rng.next() < 0.5 ? -1 : 1) * int(rng, 50, 200) }
    // The node's data directory (its own tmpfs) filled to the last byte for the step.
    case 'disk-full': return { kind: 'disk-full', node }
  }
}

/**
 * The schedule of a run of `durationMs` over `n` nodes: steps of one fault (sometimes two at
 * once, never two on the same process-level target) held 2–6 s, 2–4 s of calm between steps.
 */
export function schedule (seed: number, n: number, durationMs: number, kinds: readonly Fault['kind'][] = FAULT_KINDS): NemesisStep[] {
  const rng = new SeededRng(seed)
  const steps: NemesisStep[] = []
  let t = int(rng, 1000, 3000)
  while (t < durationMs) {
    const faults = [drawFault(rng, n, kinds)]
    if (rng.next() < 0.3) {
      const second = drawFault(rng, n, kinds)
      const nodeOf = (f: Fault): number | null => 'node' in f ? f.node : null
      // Two process-level faults on one node (kill + pause, clock + kill) would fight over it.
      if (nodeOf(second) === null || nodeOf(second) !== nodeOf(faults[0]!)) faults.push(second)
    }
    const holdMs = int(rng, 2000, 6000)
    steps.push({ at: t, faults, holdMs })
    t += holdMs + int(rng, 2000, 4000)
  }
  return steps
}

export function describeFault (f: Fault): string {
  switch (f.kind) {
    case 'kill': return `SIGKILL node ${f.node}, restart after ${f.downMs} ms`
    case 'pause': return `SIGSTOP node ${f.node} for ${f.pauseMs} ms`
    case 'isolate': return `isolate node ${f.node}`
    case 'partition': return `partition ${f.groups.map(g => `{${g.join(',')}}`).join(' | ')}`
    case 'bridge': return `bridge: ${f.left} and ${f.right} cut, both reach ${f.bridge}`
    case 'one-way': return `one-way cut ${f.from} → ${f.to}`
    case 'slow': return `slow links of node ${f.node} (+${f.delayMs} ms each way)`
    case 'clock': return `restart node ${f.node} with its clock ${f.offsetMs > 0 ? '+' : ''}${f.offsetMs} ms`
    case 'disk-full': return `fill node ${f.node}'s disk`
  }
}
