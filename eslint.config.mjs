import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'data/**', 'node_modules/**', 'coverage/**'] }),
  {
    rules: {
      // Our hot paths use bitwise ops and explicit loops on purpose.
      'no-labels': 'off',
      // `void promise` marks a deliberately unawaited promise (its errors handled inside).
      'no-void': ['error', { allowAsStatement: true }]
    }
  }
]
