import { describe, expect, it } from 'vitest'
import { createServer } from 'node:http'
import { request } from 'undici'
import { closeServer, listen } from '../../../src/net/http-server'

// A node told to stop must not wait for ever on a request that does not end (issue 21: a stopping
// node's HTTP listener outlasted node.shutdown_timeout_ms and the node exited 1).
describe('closeServer', () => {
  it('destroys the connections still busy once its grace period is over', { timeout: 20_000 }, async () => {
    let arrived!: () => void
    const inFlight = new Promise<void>(resolve => { arrived = resolve })
    const server = createServer((req, res) => {
      if (req.url === '/hang') { arrived(); return } // never answered
      res.end('ok')
    })
    const addr = await listen(server, '127.0.0.1:0')
    const hanging = request(`http://127.0.0.1:${addr.port}/hang`).then(() => 'answered', (e: unknown) => `failed: ${String((e as Error).name)}`)
    await inFlight
    const closing = closeServer(server, 200).then(() => 'closed')
    const deadline = new Promise<string>(resolve => setTimeout(() => resolve('still open after 5 s'), 5000).unref())
    expect(await Promise.race([closing, deadline])).toBe('closed')
    expect(await hanging).toMatch(/^failed/)
  })
})
