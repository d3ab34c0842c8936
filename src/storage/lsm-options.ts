import type { Config } from '../core/config/schema'

// The LevelDB options of a shard store, built from the config on the main thread and handed to the
// shard workers (which alone open LevelDB: DESIGN §2) — kept apart from kv-level.ts so the main
// thread never loads classic-level.

/** LevelDB tuning passed through from the `lsm` config section (DESIGN §8). */
export interface LevelKvOptions {
  /** Memtable size in bytes before it is flushed to a level-0 table (LevelDB default 4 MiB). */
  writeBufferSize?: number | undefined
  /** Block cache in bytes (LevelDB default 8 MiB). */
  cacheSize?: number | undefined
  /** Open table files kept (LevelDB default 1000). */
  maxOpenFiles?: number | undefined
  /** Uncompressed bytes per table block (LevelDB default 4 KiB). */
  blockSize?: number | undefined
  /** Bytes per table file before the next one starts (LevelDB default 2 MiB). */
  maxFileSize?: number | undefined
  /** Snappy compression (default true). */
  compression?: boolean | undefined
}

/**
 * The classic-level open options of the `lsm` section: every key LevelDB has an option for.
 * l0_compaction_trigger and max_bytes_for_level_base have none (compile-time constants of the
 * LevelDB classic-level bundles); config/not-in-effect.ts lists them and the node warns at start.
 */
export function levelKvOptions (lsm: Config['lsm']): Required<LevelKvOptions> {
  return {
    writeBufferSize: lsm.write_buffer_size,
    cacheSize: lsm.block_cache_bytes,
    maxOpenFiles: lsm.max_open_files,
    blockSize: lsm.block_size,
    maxFileSize: lsm.max_file_size,
    compression: lsm.compression
  }
}
