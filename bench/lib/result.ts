// Every benchmark reports through this so the RESULT line format is one fact in one place:
// RESULT name=… value=… unit=… baseline=… ratio=…  (baseline measured in the same run).

export interface BenchResult {
  name: string
  value: number
  unit: string
  /** The same-run baseline figure, in the same unit. */
  baseline: number
  /** Free-form context (durability mode, row counts …) printed after the RESULT fields. */
  note?: string
}

function fmt (n: number): string {
  if (!Number.isFinite(n)) return String(n)
  return Math.abs(n) >= 100 ? String(Math.round(n)) : n.toFixed(3)
}

export function printResult (r: BenchResult): void {
  const ratio = r.baseline === 0 ? NaN : r.value / r.baseline
  const line = `RESULT name=${r.name} value=${fmt(r.value)} unit=${r.unit} baseline=${fmt(r.baseline)} ratio=${ratio.toFixed(3)}`
  console.log(r.note ? `${line} note="${r.note}"` : line)
}

/** Run `fn` repeatedly for about `ms` milliseconds; returns operations per second. */
export function opsPerSecond (fn: () => void, opsPerCall: number, ms = 1000): number {
  // warm up so the JIT has compiled the hot path before we time it
  const warmEnd = performance.now() + Math.min(200, ms / 4)
  while (performance.now() < warmEnd) fn()
  let calls = 0
  const start = performance.now()
  let now = start
  while (now - start < ms) { fn(); calls++; now = performance.now() }
  return (calls * opsPerCall) / ((now - start) / 1000)
}
