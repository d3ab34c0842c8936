// Layering of src/ (DESIGN §10), checked by `npm run lint` so it holds by tool, not by reading.
// Each layer lists the layers it may import; anything else under src/ or workers/ is an error,
// and so is any import cycle (type-only imports count: they couple modules just the same).
// tests/unit/lint/layering.test.ts shows both rules failing on deliberate violations.
//
//   core ← storage, rings ← types ← sql, sblr, vm ← catalog, shard ← plan, cluster, security ← exec ← net ← node ← cli, main
//   boot (the bundle's code-cache loader) stands alone.
const path = require('node:path')

/** layer → [folder or file under src/ (or workers/), layers it may import] */
const LAYERS = {
  core: [['src/core', 'src/version.ts'], []],
  types: [['src/types'], ['core', 'storage']],
  storage: [['src/storage'], ['core']],
  rings: [['src/rings'], ['core']],
  sql: [['src/sql'], ['core', 'types']],
  sblr: [['src/sblr'], ['core', 'types']],
  vm: [['src/vm'], ['core', 'types', 'sblr', 'storage']],
  catalog: [['src/catalog'], ['core', 'types', 'sql']],
  shard: [['src/shard'], ['core', 'types', 'sblr', 'vm', 'storage']],
  plan: [['src/plan'], ['core', 'types', 'sql', 'sblr', 'vm', 'storage', 'catalog', 'shard']],
  cluster: [['src/cluster'], ['core', 'types', 'sql', 'storage', 'catalog', 'shard']],
  ops: [['src/ops'], ['core']],
  // Users, verifiers and privilege rules (issue 18 item 2): pure decisions over the catalog.
  security: [['src/security'], ['core', 'types', 'sql', 'catalog']],
  exec: [['src/exec'], ['core', 'types', 'sql', 'sblr', 'vm', 'storage', 'catalog', 'shard', 'plan', 'cluster', 'security']],
  net: [['src/net'], ['core', 'types', 'sql', 'sblr', 'vm', 'storage', 'catalog', 'shard', 'plan', 'cluster', 'exec', 'ops', 'security']],
  // Backup archives (issue 17): format, reading and checking; no I/O of its own beyond hashing.
  backup: [['src/backup'], ['core', 'types', 'sql', 'storage', 'catalog']],
  node: [['src/node'], ['core', 'types', 'sql', 'sblr', 'vm', 'storage', 'rings', 'catalog', 'shard', 'plan', 'cluster', 'exec', 'ops', 'net', 'backup', 'security']],
  workers: [['workers'], ['core', 'types', 'sblr', 'vm', 'storage', 'rings', 'shard', 'ops']],
  cli: [['src/cli'], ['core', 'sql', 'ops', 'node', 'backup']],
  main: [['src/main.ts'], ['core', 'cli']],
  // The bundle's loaders (compile-cache.ts): they run before the program, so they import nothing of it.
  boot: [['src/boot'], []]
}

const esc = s => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
/** A path regex for some folders/files (a folder matches everything under it). */
const pathsOf = entries => `^(?:${entries.map(e => e.endsWith('.ts') ? esc(e) + '$' : esc(e) + '/').join('|')})`

const forbidden = [
  {
    name: 'main-thread-no-leveldb',
    comment: 'The main thread never touches LevelDB (DESIGN §2): only the shard workers (workers/, src/shard) open a LevelKv; the main thread reaches storage through the rings.',
    severity: 'error',
    from: { path: '^src/(?:node|cli|net|exec|cluster|plan|catalog|ops|backup|main\\.ts)' },
    to: { path: '^src/storage/kv-level\\.ts$', reachable: true }
  },
  {
    name: 'no-circular',
    comment: 'Import cycles make layers meaningless and initialisation order fragile: break them with a leaf module or a port.',
    severity: 'error',
    from: { path: '^(?:src|workers)/' },
    to: { circular: true }
  },
  ...Object.entries(LAYERS).map(([name, [own, allowed]]) => {
    const mayImport = [...own, ...allowed.flatMap(l => LAYERS[l][0])]
    return {
      name: `layer-${name}`,
      comment: `${name} may import only ${allowed.length === 0 ? 'itself' : allowed.join(', ')} (DESIGN §10 layer order)`,
      severity: 'error',
      from: { path: pathsOf(own) },
      to: { path: '^(?:src|workers)/', pathNot: pathsOf(mayImport) }
    }
  })
]

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)node_modules/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: path.join(__dirname, 'tsconfig.json') },
    enhancedResolveOptions: { extensions: ['.ts', '.mjs', '.js', '.json'] }
  }
}
