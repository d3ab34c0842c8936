// Progress of a replica bootstrap for SHOW SHARD MAP's `moving` column (issue 20 item 4). Pure:
// the snapshot stream (node/replication/snapshot-stream.ts) counts what it sent; this turns the
// counts into the text, with the rate so far and an ETA.
//
// The ETA needs the snapshot's size, which the source does not know before it has read it all:
// it is estimated from the shards this node finished streaming lately (rows are hash-partitioned
// over the shards, so their sizes are alike), and is `unknown` until one finished. Past the
// estimate it says so rather than counting down below zero.

export interface MoveProgress {
  /** The replica being bootstrapped. */
  readonly to: number
  /** Storage keys (rows and index entries) and their bytes sent so far. */
  readonly keys: number
  readonly bytes: number
  readonly elapsedMs: number
}

export function formatBytes (n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GB`
}

/** Bytes per second so far (0 before a measurable time passed). */
export function moveRate (p: MoveProgress): number {
  return p.elapsedMs > 0 ? p.bytes * 1000 / p.elapsedMs : 0
}

/** Milliseconds left at the rate so far, given the expected size; null when it cannot be told. */
export function moveEtaMs (p: MoveProgress, expectedBytes: number | null): number | null {
  const rate = moveRate(p)
  if (expectedBytes === null || rate <= 0) return null
  return Math.max(0, expectedBytes - p.bytes) * 1000 / rate
}

/** `bootstrap of node 3: 120 keys, 45.0 kB sent in 3 s (15.0 kB/s), ETA 2 s`. */
export function moveProgressText (p: MoveProgress, expectedBytes: number | null): string {
  const eta = moveEtaMs(p, expectedBytes)
  const etaText = eta === null
    ? 'ETA unknown'
    : expectedBytes !== null && p.bytes >= expectedBytes ? 'ETA unknown (larger than the last shards streamed)' : `ETA ${Math.ceil(eta / 1000)} s`
  return `bootstrap of node ${p.to}: ${p.keys} keys, ${formatBytes(p.bytes)} sent in ${Math.round(p.elapsedMs / 1000)} s (${formatBytes(Math.round(moveRate(p)))}/s), ${etaText}`
}
