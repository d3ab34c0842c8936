// The jobs the CPU pool (piscina, src/node/cpu-pool.ts) runs in workers/cpu-tasks.ts: one type
// both sides share, kept below both so the node never imports a worker entry point.
export type CpuTask =
  | { op: 'xxhash64', data: Uint8Array }
  | { op: 'xxhash128', data: Uint8Array }
