import { readFileSync } from 'node:fs'
import { systemClock } from './core/clock'

// Version and build date are injected by build.mjs (esbuild `define`); when running from source
// (tests, tsx) they come from package.json and today's date.
declare const __SB_VERSION__: string | undefined
declare const __SB_BUILD_DATE__: string | undefined
declare const __SB_BUNDLED__: boolean | undefined

export const BUNDLED: boolean = typeof __SB_BUNDLED__ !== 'undefined' && __SB_BUNDLED__

function sourceVersion (): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

export const VERSION: string = typeof __SB_VERSION__ !== 'undefined' ? __SB_VERSION__ : sourceVersion()
export const BUILD_DATE: string = typeof __SB_BUILD_DATE__ !== 'undefined'
  ? __SB_BUILD_DATE__
  : new Date(systemClock.now()).toISOString().slice(0, 10)

/** The line `--version` prints, in the seed's form: "ScratchBird Beta v1.0.0 (2026-01-09)". */
export function versionLine (): string {
  return `ScratchBird Beta v${VERSION} (${BUILD_DATE})`
}
