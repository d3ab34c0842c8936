// Session settings (issue 19 item 4, P-007): SET / RESET / SHOW of a setting, in PostgreSQL's
// spellings, so drivers and psql send what they always send. Which names exist and which values
// they take is the executor's business (exec/settings/table.ts): here a value is a list of
// plain texts, whatever token spelled it ('UTC', UTC, 5000, -1, "$user").
//
//   SET [SESSION | LOCAL] name { = | TO } value [, …] | DEFAULT
//   SET [SESSION | LOCAL] TIME ZONE value | LOCAL | DEFAULT
//   SET [SESSION | LOCAL] TRANSACTION ISOLATION LEVEL level        (the open transaction's level)
//   SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL level (the session's default)
//   RESET name | TIME ZONE | TRANSACTION ISOLATION LEVEL | ALL
//   SHOW name | TIME ZONE | TRANSACTION ISOLATION LEVEL | ALL
import type { ResetStatement, SetStatement, ShowSettingStatement } from './ast'
import type { Cursor } from './cursor'

/** The setting a multi-word name stands for, when the cursor is at one (consumed). */
function multiWordName (c: Cursor): string | null {
  if (c.isWord('time') && c.isWord('zone', 1)) { c.next(); c.next(); return 'timezone' }
  if (c.isWord('transaction') && c.isWord('isolation', 1)) {
    c.next(); c.next(); c.wantWord('level')
    return 'transaction_isolation'
  }
  return null
}

/** A setting name: one identifier (keywords allowed, quoted kept as written), or `prefix.name` (a custom setting). */
function settingName (c: Cursor): string {
  const multi = multiWordName(c)
  if (multi !== null) return multi
  let name = c.identifier('a setting name', true)
  if (c.isOp('.')) {
    c.next()
    name = `${name}.${c.identifier('a setting name', true)}`
  }
  return name
}

/** SNAPSHOT | REPEATABLE READ | READ COMMITTED | READ UNCOMMITTED | SERIALIZABLE, as the setting's text. */
function isolationLevel (c: Cursor): string {
  if (c.acceptWord('snapshot')) return 'snapshot'
  if (c.acceptWord('serializable')) return 'serializable'
  if (c.acceptWord('repeatable')) { c.wantWord('read'); return 'repeatable read' }
  c.wantWord('read')
  if (c.acceptWord('uncommitted')) return 'read uncommitted'
  c.wantWord('committed')
  return 'read committed'
}

/** One value item: a string, a number (maybe negative), a word or a quoted name. */
function valueItem (c: Cursor): string {
  const t = c.peek()
  if (t.kind === 'op' && t.value === '-') {
    const n = c.peek(1)
    if (n.kind === 'integer' || n.kind === 'decimal') { c.next(); c.next(); return `-${n.value}` }
  }
  if (t.kind === 'string' || t.kind === 'integer' || t.kind === 'decimal' || t.kind === 'word' || t.kind === 'quoted') {
    c.next()
    return t.value
  }
  throw c.error('a setting value (a string, number or name) or DEFAULT')
}

function valueList (c: Cursor): string[] | null {
  if (c.acceptWord('default')) return null
  const items = [valueItem(c)]
  while (c.acceptOp(',')) items.push(valueItem(c))
  return items
}

/** At `SET`. */
export function parseSet (c: Cursor): SetStatement {
  const pos = c.next().pos
  let local = false
  if (c.acceptWord('local')) local = true
  else if (c.isWord('session') && c.isWord('characteristics', 1)) {
    c.next(); c.next()
    c.wantWord('as'); c.wantWord('transaction'); c.wantWord('isolation'); c.wantWord('level')
    return { kind: 'set', pos, local: false, name: 'default_transaction_isolation', value: [isolationLevel(c)] }
  } else c.acceptWord('session')
  if (c.isWord('time') && c.isWord('zone', 1)) {
    c.next(); c.next()
    // SET TIME ZONE LOCAL is PostgreSQL's spelling of DEFAULT.
    if (c.acceptWord('local')) return { kind: 'set', pos, local, name: 'timezone', value: null }
    return { kind: 'set', pos, local, name: 'timezone', value: valueList(c) }
  }
  if (c.isWord('transaction') && c.isWord('isolation', 1)) {
    c.next(); c.next(); c.wantWord('level')
    return { kind: 'set', pos, local, name: 'transaction_isolation', value: [isolationLevel(c)] }
  }
  const name = settingName(c)
  if (!c.acceptOp('=')) c.wantWord('to')
  return { kind: 'set', pos, local, name, value: valueList(c) }
}

/** At `RESET`. */
export function parseReset (c: Cursor): ResetStatement {
  const pos = c.next().pos
  if (c.acceptWord('all')) return { kind: 'reset', pos, name: null }
  return { kind: 'reset', pos, name: settingName(c) }
}

/** After `SHOW`, when it names no cluster target. */
export function parseShowSetting (c: Cursor, pos: SetStatement['pos']): ShowSettingStatement {
  if (c.acceptWord('all')) return { kind: 'show_setting', pos, name: null }
  return { kind: 'show_setting', pos, name: settingName(c) }
}
