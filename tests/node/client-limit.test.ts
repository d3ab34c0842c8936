import { connect, type Socket } from 'node:net'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePorts } from '../helpers/cluster-harness'
import { sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'
import { fe, fieldsOf, WireClient } from '../pg/wire'

// node.max_connections_per_client (issue 18 item 5) on a real node with a limit of 2: a third
// connection from the same address is refused — PostgreSQL: FATAL 53300 SB_TOO_MANY_CONNECTIONS
// and closed; HTTP: its request answered 503 with the coded body and closed — and once one of the
// two closes, a new connection is served again.

let node: RunningNode
let pgPort: number
let httpPort: number

beforeAll(async () => {
  const dir = tempDir('sb-client-limit-')
  const [port, metrics] = await freePorts(2)
  const cfg = join(dir, 'scratchbird.yaml')
  writeFileSync(cfg, stringify({
    node: { id: 1, listen: `127.0.0.1:${port!}`, metrics_listen: `127.0.0.1:${metrics!}`, data_dir: join(dir, 'data'), pg_listen: '127.0.0.1:0', durability: 'none', max_connections_per_client: 2 },
    storage: { shards: 2, workers: 1 },
    logging: { console: 'json' }
  }))
  const [cmd, args] = sourceCommand(['--config', cfg])
  node = await startNode(cmd, args, { timeoutMs: 60_000 })
  pgPort = Number(node.pg.slice(node.pg.lastIndexOf(':') + 1))
  httpPort = port!
}, 120_000)
afterAll(() => { node?.proc.kill('SIGKILL') })

/** A kept-alive HTTP connection that has been answered once (so it is open and counted). */
async function keptAlive (): Promise<Socket> {
  const s = connect(httpPort, '127.0.0.1')
  const answered = new Promise<string>(resolve => s.once('data', (d: Buffer) => resolve(d.toString())))
  s.write('GET /v1/health HTTP/1.1\r\nhost: x\r\n\r\n')
  expect((await answered).split('\r\n')[0]).toBe('HTTP/1.1 200 OK')
  return s
}

describe('connections per client address (node.max_connections_per_client)', () => {
  it('PostgreSQL: the third connection gets FATAL 53300 and is closed; after a close one is served again', async () => {
    const a = await WireClient.ready(pgPort)
    const b = await WireClient.ready(pgPort)
    const c = await WireClient.open(pgPort)
    c.send(fe.startup({ user: 'tester', database: 'db' }))
    const msgs = await c.rest()
    expect(msgs.map(m => m.type)).toEqual(['E'])
    expect(fieldsOf(msgs[0]!)).toMatchObject({ S: 'FATAL', C: '53300', D: 'SB_TOO_MANY_CONNECTIONS {"client":"127.0.0.1","max":2}' })
    a.end()
    await a.closed
    // The node counts the close when its socket closes: retry until the slot is free.
    for (;;) {
      const d = await WireClient.open(pgPort)
      d.send(fe.startup({ user: 'tester', database: 'db' }))
      const first = await Promise.race([d.until('Z').then(() => 'ready'), d.closed.then(() => 'closed')])
      d.end()
      if (first === 'ready') break
    }
    b.end()
  })

  it('HTTP: the third connection\'s request is answered 503 SB_TOO_MANY_CONNECTIONS and closed', async () => {
    const a = await keptAlive()
    const b = await keptAlive()
    const c = connect(httpPort, '127.0.0.1')
    let text = ''
    c.on('data', (d: Buffer) => { text += d.toString() })
    const closed = new Promise<void>(resolve => c.on('close', () => resolve()))
    c.write('POST /v1/sql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 19\r\n\r\n{"sql":"SELECT 1"}\n')
    await closed
    expect(text.split('\r\n')[0]).toBe('HTTP/1.1 503 Service Unavailable')
    const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { error: Record<string, unknown> }
    expect(body.error).toMatchObject({ code: 'SB_TOO_MANY_CONNECTIONS', sqlstate: '53300', client: '127.0.0.1', max: 2 })
    // The PostgreSQL listener counts apart: a client at its HTTP limit still connects there.
    const p = await WireClient.ready(pgPort)
    p.end()
    a.destroy()
    await new Promise<void>(resolve => a.on('close', () => resolve()))
    for (;;) {
      const r = await fetch(`http://127.0.0.1:${httpPort}/v1/health`, { headers: { connection: 'close' } })
      await r.text()
      if (r.status === 200) break
    }
    b.destroy()
  })
})
