import { describe, expect, it } from 'vitest'
import { checkLimits, LIMITS } from '../../../src/core/limits'
import { MAX_COLUMNS } from '../../../src/catalog/catalog'
import { MAX_ROW_COLUMNS } from '../../../src/types/row-codec'
import { MAX_PARAM_INDEX } from '../../../src/sql/parse-expr'
import { MAX_SQL_PARAMS } from '../../../src/net/body'
import { RPC_MAX_BODY_BYTES } from '../../../src/net/rpc/wire'
import { MAX_ROW_BYTES } from '../../../src/storage/engine'

describe('core/limits: one place for the bounds modules share', () => {
  it('the shipped limits keep their relations', () => {
    expect(() => checkLimits()).not.toThrow()
  })

  it('a contradiction fails at load, naming the relation', () => {
    expect(() => checkLimits({ ...LIMITS, rowBytes: LIMITS.rpcBodyBytes })).toThrow(/row image must fit one RPC body/)
    expect(() => checkLimits({ ...LIMITS, hintBatchBytes: LIMITS.rpcBodyBytes })).toThrow(/hint delivery batch/)
    expect(() => checkLimits({ ...LIMITS, charLength: LIMITS.encodedValueBytes + 1 })).toThrow(/CHAR\(n\)/)
  })

  it('modules that used to repeat a bound now read the same one', () => {
    expect(MAX_ROW_COLUMNS).toBe(MAX_COLUMNS)
    expect(MAX_SQL_PARAMS).toBe(MAX_PARAM_INDEX)
    expect(RPC_MAX_BODY_BYTES - MAX_ROW_BYTES).toBeGreaterThanOrEqual(LIMITS.rpcEnvelopeBytes)
  })
})
