import neostandard from 'neostandard'

// Deterministic core (DESIGN §10): only src/core/clock.ts reads time and only src/core/rng.ts makes
// randomness, everywhere but the composition root (src/node/, src/main.ts), so whatever the
// simulator and the tests run takes an injected Clock and Rng and a failing schedule replays.
const deterministic = {
  'no-restricted-properties': ['error',
    { object: 'Date', property: 'now', message: 'read time through an injected Clock (src/core/clock.ts)' },
    { object: 'performance', property: 'now', message: 'read time through an injected Clock (src/core/clock.ts)' },
    { object: 'Math', property: 'random', message: 'use an injected Rng (src/core/rng.ts)' }
  ],
  'no-restricted-syntax': ['error',
    { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'read time through an injected Clock (src/core/clock.ts)' }
  ],
  'no-restricted-imports': ['error', {
    paths: [{ name: 'node:crypto', importNames: ['randomBytes', 'randomUUID', 'randomInt', 'randomFillSync'], message: 'use an injected Rng (src/core/rng.ts)' }],
    // The system clock and the CSPRNG are handed out by the composition roots only (below).
    patterns: [
      { group: ['**/core/clock'], importNames: ['systemClock'], message: 'take a Clock from the caller; only a composition root uses systemClock' },
      { group: ['**/core/rng'], importNames: ['cryptoRng', 'CryptoRng'], message: 'take an Rng from the caller; only a composition root uses cryptoRng' }
    ]
  }]
}

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'data/**', 'node_modules/**', 'coverage/**'] }),
  {
    rules: {
      // Our hot paths use bitwise ops and explicit loops on purpose.
      'no-labels': 'off',
      // `void promise` marks a deliberately unawaited promise (its errors handled inside).
      'no-void': ['error', { allowAsStatement: true }]
    }
  },
  {
    files: ['src/**/*.ts', 'workers/**/*.ts'],
    // Composition roots: they build the system clock and the CSPRNG into everything else —
    // the node (src/node/node.ts), the process entry points (src/main.ts, the shard worker
    // thread) and the build date fallback (src/version.ts). Everything else takes them injected.
    ignores: ['src/core/clock.ts', 'src/core/rng.ts', 'src/node/node.ts', 'src/main.ts', 'src/version.ts', 'workers/shard-worker.ts', 'workers/cpu-tasks.ts'],
    rules: deterministic
  }
]
