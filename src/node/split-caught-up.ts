import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { parseCaughtUpRecord, type SplitCaughtUpRecord } from '../cluster/split-run'
import { writeFileAtomic } from '../core/atomic-file'
import { describe, messageOf } from '../core/errors'

// <data_dir>/split-caught-up.json: the parents this node reported caught up in the split under way
// (cluster/split-run.ts SplitCaughtUpRecord; node/split-runner.ts writes it before the report
// goes out), so a restarted node keeps reporting them caught up and a cancel is not accepted on
// its forgetting: `{"epoch":7,"shards":4,"to":8,"parents":[0,2]}`. Absent: none. Removed once
// the layout records no split. A file that is not a record is read as none, with a warning: it
// only ever makes a cancel easier, as it was before the file existed.

export const SPLIT_CAUGHT_UP_FILE = 'split-caught-up.json'

export function splitCaughtUpStore (dataDir: string, log: Logger): { read: () => SplitCaughtUpRecord | null, write: (rec: SplitCaughtUpRecord | null) => void } {
  const path = join(dataDir, SPLIT_CAUGHT_UP_FILE)
  return {
    read: () => {
      let text: string
      try {
        text = readFileSync(path, 'utf8')
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null
        log.warn({ err: describe(e) }, `${path} could not be read (read as no parent caught up): ${messageOf(e)}`)
        return null
      }
      let rec: SplitCaughtUpRecord | null = null
      try { rec = parseCaughtUpRecord(JSON.parse(text)) } catch { rec = null }
      if (rec === null) log.warn(`${path} is not a record of the parents this node reported caught up in a split (read as none)`)
      return rec
    },
    write: (rec) => {
      if (rec === null) rmSync(path, { force: true })
      else writeFileAtomic(path, JSON.stringify(rec) + '\n')
    }
  }
}
