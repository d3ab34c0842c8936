import { describe, expect, it } from 'vitest'
import { formatTraceparent, parseTraceparent } from '../../../src/core/trace-context'

// The W3C traceparent codec (issue 18 item 8): a valid context is read; anything else is ignored
// (undefined), never an error.

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const SPAN = '00f067aa0ba902b7'

describe('traceparent', () => {
  it('reads a version-00 context and writes it back', () => {
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-01`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true })
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-00`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: false })
    expect(formatTraceparent({ traceId: TRACE, spanId: SPAN, sampled: true })).toBe(`00-${TRACE}-${SPAN}-01`)
    // A later version is read by its first four fields.
    expect(parseTraceparent(`01-${TRACE}-${SPAN}-03-more`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true })
  })

  it.each([
    undefined, 42, '', 'garbage', `00-${TRACE}-${SPAN}`, `00-${TRACE.toUpperCase()}-${SPAN}-01`,
    `00-${'0'.repeat(32)}-${SPAN}-01`, `00-${TRACE}-${'0'.repeat(16)}-01`, `ff-${TRACE}-${SPAN}-01`,
    `00-${TRACE}-${SPAN}-01-extra`, `00-${TRACE}x-${SPAN}-01`, `0-${TRACE}-${SPAN}-01`, `00-${TRACE}-${SPAN}-0g`,
    'x'.repeat(10_000)
  ])('ignores the malformed context %j', (value) => {
    expect(parseTraceparent(value)).toBeUndefined()
  })
})
