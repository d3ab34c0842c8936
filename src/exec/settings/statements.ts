// SET, RESET and SHOW of session settings (table.ts) in the executor: per session (an HTTP
// session or a PostgreSQL connection; a request without a session starts from the defaults).
// transaction_isolation is the open transaction's own level, not a stored value: SET changes it
// only before the transaction has touched a shard (the level is fixed once a shard has begun it).
import { ScratchBirdError } from '../../core/errors'
import { posDetails } from '../../plan/compile-expr'
import type { SettingStatement } from '../../sql/ast'
import { T } from '../../types/sql-types'
import { commandResult, rowsResult, type StatementResult } from '../result'
import { SqlTxn, type SessionState, type TxnPorts } from '../txn'
import { settingDef } from './table'

const TXN_ISOLATION = 'transaction_isolation'

/** transaction_isolation as SHOW prints it: the open transaction's level, else the level BEGIN would take. */
function isolationNow (session: SessionState): string {
  const txn = session.txn
  if (txn === null) return session.settings.get('default_transaction_isolation')
  return txn.isolation === 'snapshot' ? 'snapshot' : 'read committed'
}

export function runSettingStatement (env: TxnPorts, session: SessionState, s: SettingStatement): StatementResult {
  const settings = session.settings
  const txn = session.txn
  switch (s.kind) {
    case 'show_setting': {
      if (s.name === null) {
        const rows = settings.all().map(r => [r.name, r.name === TXN_ISOLATION ? isolationNow(session) : r.setting, r.description])
        return rowsResult('SHOW', [{ name: 'name', type: T.text }, { name: 'setting', type: T.text }, { name: 'description', type: T.text }], rows)
      }
      const value = s.name.toLowerCase() === TXN_ISOLATION ? isolationNow(session) : settings.get(s.name)
      return rowsResult('SHOW', [{ name: s.name.toLowerCase(), type: T.text }], [[value]])
    }
    case 'reset':
      if (s.name !== null && s.name.toLowerCase() === TXN_ISOLATION) {
        setIsolation(env, session, settings.get('default_transaction_isolation'), s)
        return commandResult('RESET')
      }
      settings.reset(s.name)
      return commandResult('RESET')
    case 'set': {
      const value = s.value === null ? null : s.value.join(', ')
      if (s.name.toLowerCase() === TXN_ISOLATION) {
        if (value !== null) settingDef(TXN_ISOLATION)!.parse!(value)
        if (txn === null) return commandResult('SET', 0, ['SET TRANSACTION ISOLATION LEVEL has no effect outside a transaction block (BEGIN … COMMIT): set default_transaction_isolation for the session'])
        setIsolation(env, session, value ?? settings.get('default_transaction_isolation'), s)
        return commandResult('SET')
      }
      const out = settings.set(s.name, value, s.local, txn !== null)
      return commandResult('SET', 0, out.notice === null ? [] : [out.notice])
    }
  }
}

/** The open transaction starts over at `level` (text as SET takes it), if it has not touched a shard yet. */
function setIsolation (env: TxnPorts, session: SessionState, level: string, s: SettingStatement): void {
  const txn = session.txn
  if (txn === null) return
  const iso = settingDef(TXN_ISOLATION)!.parse!(level) === 'snapshot' ? 'snapshot' : 'read_committed'
  if (iso === txn.isolation) return
  if (txn.shards.length > 0) {
    throw new ScratchBirdError('SB_SETTING_READ_ONLY', 'SET TRANSACTION ISOLATION LEVEL must come before the transaction reads or writes a table', { setting: TXN_ISOLATION, ...posDetails(s.pos) })
  }
  // Nothing joined: the empty transaction is replaced by one at the new level (its snapshot
  // registration goes with it).
  void txn.rollback()
  session.txn = new SqlTxn(env, iso, true)
}
