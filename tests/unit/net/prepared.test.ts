import { describe, expect, it } from 'vitest'
import { PreparedStatements } from '../../../src/net/prepared'

// The HTTP API's prepared statements: one id per text while kept, least recently used forgotten
// first, a forgotten or unknown id a coded error.

describe('PreparedStatements', () => {
  it('gives a text one id while it is kept and forgets the least recently used beyond its capacity', () => {
    const p = new PreparedStatements(2)
    const a = p.prepare('SELECT 1')
    const b = p.prepare('SELECT 2')
    expect(p.prepare('SELECT 1')).toBe(a)
    expect(b).not.toBe(a)
    expect(p.text(a)).toBe('SELECT 1') // a is now the most recent
    const c = p.prepare('SELECT 3')
    expect(p.size).toBe(2)
    expect(() => p.text(b)).toThrow(expect.objectContaining({ code: 'SB_UNDEFINED_PREPARED_STATEMENT' }))
    expect(p.text(c)).toBe('SELECT 3')
    expect(p.text(a)).toBe('SELECT 1')
    const b2 = p.prepare('SELECT 2') // prepared again: a new id
    expect(b2).not.toBe(b)
    expect(p.text(b2)).toBe('SELECT 2')
  })
})
