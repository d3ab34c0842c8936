// Bounds on SBLR programs (TigerBeetle style: named, checked, errors when exceeded). Shared by the
// byte reader (program.ts) and the verifier.
import { LIMITS } from '../core/limits'

export const MAX_PROGRAM_BYTES = 16 * 1024 * 1024
export const MAX_REGISTERS = 65_536
export const MAX_PARAMS = LIMITS.sqlParams
export const MAX_CONSTANTS = 65_536
export const MAX_TYPES = 65_536
export const MAX_PROGRAM_COLUMNS = 1600
export const MAX_AGGREGATES = 4096
export const MAX_CODE_WORDS = 1 << 20
export const MAX_NAME_BYTES = 1024
