// statement_timeout (a session setting, exec/settings/table.ts): a statement still running after
// that many milliseconds is answered with SB_STATEMENT_TIMEOUT (57014), as PostgreSQL cancels it.
// Cancellation is on the coordinator: the shard requests already sent run to their end and their
// answers are dropped (the shard ops have no cancel), so inside a transaction the statement counts
// as failed (only ROLLBACK is accepted, which ends what it left), and outside one a write already
// sent may still commit — the error says so. COMMIT and ROLLBACK, and the statements that only
// touch the session, are never timed out: their outcome must be known.
import { ScratchBirdError } from '../core/errors'
import type { Statement } from '../sql/ast'
import type { TimerPort } from './env'

const NEVER_TIMED_OUT: ReadonlySet<Statement['kind']> = new Set<Statement['kind']>(['commit', 'rollback', 'begin', 'set', 'reset', 'show_setting'])

/** Writes whose outcome is unknown when they time out outside a transaction. */
const WRITES: ReadonlySet<Statement['kind']> = new Set<Statement['kind']>(['insert', 'update', 'delete', 'truncate'])

export async function withStatementTimeout<T> (port: TimerPort, ms: number, s: Statement, inTxn: boolean, run: () => Promise<T>): Promise<T> {
  if (ms <= 0 || port.statementTimer === undefined || NEVER_TIMED_OUT.has(s.kind)) return await run()
  const work = run()
  let cancel: () => void = () => {}
  const timeout = new Promise<never>((_resolve, reject) => {
    cancel = port.statementTimer!(ms, () => reject(timedOut(ms, s, inTxn)))
  })
  // The statement's own outcome after a timeout is nobody's business any more: not an unhandled rejection.
  work.catch(() => {})
  try {
    return await Promise.race([work, timeout])
  } finally {
    cancel()
  }
}

function timedOut (ms: number, s: Statement, inTxn: boolean): ScratchBirdError {
  const after = inTxn
    ? 'the transaction must be rolled back'
    : WRITES.has(s.kind) ? 'its writes already sent to the shards may still commit: check before retrying' : 'nothing was changed'
  return new ScratchBirdError('SB_STATEMENT_TIMEOUT', `canceling statement due to statement timeout (${ms} ms); ${after}`, { statement_timeout_ms: ms, statement: s.kind })
}
