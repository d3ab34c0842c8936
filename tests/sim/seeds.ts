// The seeds every simulation runs: 1‥SIM_SEEDS (default 100), or only SEED=<n> to replay one
// (SEED=<n>,<m>,… replays a list, e.g. the failures of a long run).
export function simSeeds (env: NodeJS.ProcessEnv = process.env): number[] {
  if (env.SEED !== undefined && env.SEED !== '') return env.SEED.split(',').map(Number)
  const count = Number(env.SIM_SEEDS ?? 100)
  return Array.from({ length: count }, (_, i) => i + 1)
}
