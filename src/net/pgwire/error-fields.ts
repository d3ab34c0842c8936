// ErrorResponse / NoticeResponse fields of a ScratchBird error. The SQLSTATE comes from the one
// error table (src/core/errors.ts: every code has one); our stable code travels in the Detail
// field ('D'), first, then the error's details as JSON, so a driver that shows err.detail shows
// it and a program can match on it. A syntax error's 1-based offset becomes Position ('P'),
// shifted by where its statement starts in the query string.
import type { ScratchBirdError } from '../../core/errors'

export type Fields = Array<readonly [string, string]>

/** Where the failing statement sits in the query string: its text and its 0-based offset. */
export interface StatementAt { readonly text: string, readonly offset: number }

export function errorFields (e: ScratchBirdError, severity: 'ERROR' | 'FATAL' = 'ERROR', at?: StatementAt): Fields {
  const { position, ...rest } = e.details
  const detail = Object.keys(rest).length === 0 ? e.code : `${e.code} ${JSON.stringify(rest)}`
  const fields: Fields = [['S', severity], ['V', severity], ['C', e.sqlstate], ['M', e.message], ['D', detail]]
  const p = at === undefined ? null : positionIn(position, at)
  if (p !== null) fields.push(['P', String(p)])
  return fields
}

/** A 1-based offset, or {line, column} of the planner's errors, as a 1-based offset in the query string. */
function positionIn (position: unknown, at: StatementAt): number | null {
  if (typeof position === 'number') return position + at.offset
  if (typeof position !== 'object' || position === null) return null
  const { line, column } = position as { line?: unknown, column?: unknown }
  if (typeof line !== 'number' || typeof column !== 'number' || line < 1 || column < 1) return null
  let start = 0
  for (let l = 1; l < line; l++) {
    const nl = at.text.indexOf('\n', start)
    if (nl < 0) return null
    start = nl + 1
  }
  return at.offset + start + column
}

/** A warning the HTTP API returns in `warnings` (the colocation hint …), as a NoticeResponse. */
export function warningFields (message: string): Fields {
  return [['S', 'WARNING'], ['V', 'WARNING'], ['C', '01000'], ['M', message]]
}

/** A notice that a statement was accepted but changes nothing here (SET of a parameter we do not have). */
export function noticeFields (message: string): Fields {
  return [['S', 'NOTICE'], ['V', 'NOTICE'], ['C', '00000'], ['M', message]]
}
