import { connect } from 'node:net'
import { expect } from 'vitest'
import type { RunningNode } from '../helpers/node-process'
import { CODE } from './mutate'

// One fuzz case on the PostgreSQL protocol: the bytes on a fresh connection, and what every
// answer must satisfy whatever was sent (shared by the pgwire fuzzers).

export interface Msg { type: string, body: Buffer }
export interface Exchange { msgs: Msg[], trailing: number }

/**
 * Sends `bytes` on a fresh connection, half-closes, and reads until the node closes. The answer
 * is split into messages: leading single-byte 'N'/'S' answers to encryption requests, then typed
 * frames (nothing else may come before the first typed frame; NoticeResponse needs a session).
 */
export async function exchange (port: number, bytes: Buffer): Promise<Exchange> {
  const socket = connect(port, '127.0.0.1')
  const chunks: Buffer[] = []
  socket.on('data', (d: Buffer) => chunks.push(d))
  socket.on('error', () => {})
  const closed = new Promise<void>(resolve => socket.on('close', () => resolve()))
  // A node that never closes is a hang: the case fails (vitest's own timeout is the backstop).
  const hang = setTimeout(() => socket.destroy(new Error('hang')), 15_000)
  await new Promise<void>(resolve => socket.once('connect', resolve))
  socket.end(bytes)
  await closed
  clearTimeout(hang)
  const buf = Buffer.concat(chunks)
  const msgs: Msg[] = []
  let o = 0
  while (o < buf.length && (buf[o] === 0x4e || buf[o] === 0x53) && (buf.length - o < 5 || buf.readInt32BE(o + 1) > buf.length)) {
    msgs.push({ type: `byte:${String.fromCharCode(buf[o]!)}`, body: Buffer.alloc(0) })
    o++
  }
  while (buf.length - o >= 5) {
    const len = buf.readInt32BE(o + 1)
    if (len < 4 || o + 1 + len > buf.length) break
    msgs.push({ type: String.fromCharCode(buf[o]!), body: buf.subarray(o + 5, o + 1 + len) })
    o += 1 + len
  }
  return { msgs, trailing: buf.length - o }
}

export function fields (m: Msg): Record<string, string> {
  const out: Record<string, string> = {}
  let i = 0
  while (i < m.body.length && m.body[i] !== 0) {
    const end = m.body.indexOf(0, i + 1)
    if (end < 0) break
    out[String.fromCharCode(m.body[i]!)] = m.body.subarray(i + 1, end).toString('utf8')
    i = end + 1
  }
  return out
}

/** What every answer must satisfy, whatever was sent. */
export function checkAnswer (node: RunningNode, x: Exchange, sent: Buffer): void {
  const where = `sent ${sent.toString('hex').slice(0, 400)}`
  expect(x.trailing, `${where}: bytes after the last whole message`).toBe(0)
  for (const [i, m] of x.msgs.entries()) {
    if (m.type !== 'E') continue
    const f = fields(m)
    expect(f.C, `${where}: ErrorResponse without SQLSTATE`).toMatch(/^[0-9A-Z]{5}$/)
    const code = (f.D ?? '').split(' ')[0]!
    expect(code, `${where}: ErrorResponse without our code (${JSON.stringify(f)})`).toMatch(CODE)
    expect(code, `${where}: ${f.M ?? ''}`).not.toBe('SB_INTERNAL')
    if (f.S === 'FATAL') expect(i, `${where}: messages after a FATAL error`).toBe(x.msgs.length - 1)
  }
  expect(node.proc.exitCode, 'the node exited').toBeNull()
}
