import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { CURRENT_FORMAT, CURRENT_FORMAT_NAME, catalogIsAlpha, DATA_FORMATS, FORMAT_FILE, migrateCommand, parseFormatFile, type DataFormatName } from '../backup/migrate-rules'
import { writeFileAtomic } from '../core/atomic-file'
import { ScratchBirdError } from '../core/errors'
import { CATALOG_FILE } from '../catalog/store'

// <data_dir>/format.json (issue 17 item 6): checked at every start before anything is opened. A
// directory of a newer format is refused (use the release that wrote it); one of an older format is
// refused until it is migrated, the message naming the command. A directory without the file is
// judged by its catalog (migrate-rules.ts) and, when it is of this format, gets the file.

/** The format of `dataDir` as recorded or judged: its number and name (null for a newer one). */
export function dataFormatOf (dataDir: string): { format: number, name: DataFormatName | null, recorded: boolean } {
  const path = join(dataDir, FORMAT_FILE)
  let text: string | null = null
  try { text = readFileSync(path, 'utf8') } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e }
  if (text !== null) {
    const format = parseFormatFile(text, path)
    return { format, name: DATA_FORMATS[format - 1] ?? null, recorded: true }
  }
  let catalog: string | null = null
  try { catalog = readFileSync(join(dataDir, CATALOG_FILE), 'utf8') } catch { /* none: a new directory */ }
  let alpha = false
  if (catalog !== null) { try { alpha = catalogIsAlpha(JSON.parse(catalog)) } catch { /* unreadable: loadCatalog reports it */ } }
  return alpha ? { format: 1, name: 'alpha', recorded: false } : { format: CURRENT_FORMAT, name: CURRENT_FORMAT_NAME, recorded: false }
}

export function recordDataFormat (dataDir: string): void {
  writeFileAtomic(join(dataDir, FORMAT_FILE), JSON.stringify({ format: CURRENT_FORMAT, name: CURRENT_FORMAT_NAME }) + '\n')
}

export function checkDataFormat (dataDir: string): void {
  const f = dataFormatOf(dataDir)
  if (f.format > CURRENT_FORMAT) {
    throw new ScratchBirdError('SB_DATA_FORMAT', `data directory ${dataDir} is in format ${f.format}, newer than this release's (${CURRENT_FORMAT}, ${CURRENT_FORMAT_NAME}): run the release that wrote it`,
      { dataDir, format: f.format, supported: CURRENT_FORMAT })
  }
  if (f.format < CURRENT_FORMAT) {
    const cmd = migrateCommand(f.name!, dataDir)
    throw new ScratchBirdError('SB_DATA_FORMAT', `data directory ${dataDir} is in format ${f.name!}; this release opens ${CURRENT_FORMAT_NAME}: stop here and run ${cmd}`,
      { dataDir, format: f.format, command: cmd })
  }
  if (!f.recorded) recordDataFormat(dataDir)
}
