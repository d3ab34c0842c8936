import { describe, expect, it } from 'vitest'
import { describeConfigKeys, loadConfig } from '../../../src/core/config/load'
import { notInEffect } from '../../../src/core/config/not-in-effect'
import { levelKvOptions } from '../../../src/storage/lsm-options'

// Issue 13 item 7: every lsm.* key reaches LevelDB (classic-level's open options) or is listed
// as having no effect.

describe('lsm.* → classic-level options', () => {
  it('maps each key with a LevelDB option to that option', () => {
    const c = loadConfig({ text: 'lsm: {write_buffer_size: 8388608, block_cache_bytes: 0, max_open_files: 64, block_size: 16384, max_file_size: 4194304, compression: false}' })
    expect(levelKvOptions(c.lsm)).toEqual({ writeBufferSize: 8388608, cacheSize: 0, maxOpenFiles: 64, blockSize: 16384, maxFileSize: 4194304, compression: false })
  })

  it('defaults to LevelDB\'s own defaults', () => {
    expect(levelKvOptions(loadConfig({ text: '' }).lsm)).toEqual({ writeBufferSize: 4 * 1024 * 1024, cacheSize: 8 * 1024 * 1024, maxOpenFiles: 1000, blockSize: 4096, maxFileSize: 2 * 1024 * 1024, compression: true })
  })

  it('every lsm key either changes the options or is listed as having no effect', () => {
    const base = levelKvOptions(loadConfig({ text: '' }).lsm)
    const keys = describeConfigKeys().filter(k => k.path.startsWith('lsm.'))
    expect(keys.length).toBeGreaterThanOrEqual(8)
    for (const k of keys) {
      const name = k.path.slice('lsm.'.length)
      const other = typeof k.default === 'boolean' ? !k.default : (k.default as number) * 2
      const changed = levelKvOptions(loadConfig({ text: `lsm: {${name}: ${String(other)}}` }).lsm)
      const off = notInEffect(k.path)
      if (off === undefined) expect(changed, `${k.path} must reach a LevelDB option`).not.toEqual(base)
      else {
        expect(off.status, k.path).toBe('no_effect')
        expect(changed, `${k.path} is listed as no_effect`).toEqual(base)
      }
    }
  })
})
