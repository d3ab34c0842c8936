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
    paths: [{ name: 'node:crypto', importNames: ['randomBytes', 'randomUUID', 'randomInt'], message: 'use an injected Rng (src/core/rng.ts)' }]
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
    ignores: ['src/core/clock.ts', 'src/core/rng.ts', 'src/node/**', 'src/main.ts'],
    rules: deterministic
  }
]
