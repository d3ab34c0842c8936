import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { MAX_VERSION_SCAN_ROWS } from '../../../src/storage/version-scan'
import { BACKENDS, dec, del, ins, nextHlc, replicas, T, upd, useBackend, type Replica } from './replica-fixtures'

// VERSION_SCAN (storage/version-scan.ts): a page of a table's keys with the latest committed
// version of each — tombstones included — and the HLC it committed at, whether stamped inline
// (autocommit) or resolved through the TIP (a multi-statement transaction); uncommitted versions
// are not seen; pages continue after a key.

let open: Replica[] = []
afterEach(async () => { for (const r of open) await r.destroy(); open = [] })

for (const backend of BACKENDS) {
  describe(backend, () => {
    beforeAll(() => { useBackend(backend) })

    it('gives each key\'s latest committed version with its commit HLC, tombstones included, in pages', async () => {
      open = await replicas(1)
      const e = open[0]!.engine
      const h1 = nextHlc()
      await e.autocommit({ writes: [ins('a', 'a1'), ins('b', 'b1'), ins('c', 'c1')], commitHlc: h1 })
      const h2 = nextHlc()
      await e.autocommit({ writes: [del('b')], commitHlc: h2 })
      const t = await e.begin({ startHlc: nextHlc() })
      await t.write([upd('c', 'c2')])
      const h3 = nextHlc()
      await t.commit(h3)
      // Not committed: invisible to the scan (the key's committed version is the one shown).
      const open2 = await e.begin({ startHlc: nextHlc() })
      await open2.write([upd('a', 'a9'), ins('d', 'd1')])
      const page = await e.scanVersions(T, null, 10)
      expect(page.map(r => [r.pk[0], dec(r.row), r.commitHlc])).toEqual([['a', 'a1', h1], ['b', null, h2], ['c', 'c2', h3]])
      expect((await e.getVersioned(T, ['c']))!.versionId).toEqual(page[2]!.versionId)
      // Paged: after a key, at most limit keys.
      expect((await e.scanVersions(T, null, 2)).map(r => r.pk[0])).toEqual(['a', 'b'])
      expect((await e.scanVersions(T, ['b'], 2)).map(r => r.pk[0])).toEqual(['c'])
      await open2.rollback()
      await expect(e.scanVersions(T, null, 0)).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
      await expect(e.scanVersions(T, null, MAX_VERSION_SCAN_ROWS + 1)).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
    })
  })
}
