// The HTTP benchmarks' baseline: a trivial node:http JSON endpoint in its own process (as the node
// is), which reads the request body, parses it as JSON and answers a small JSON object shaped like
// a ScratchBird result. Prints {"listen": "host:port"} once listening.
import { createServer } from 'node:http'

const server = createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    let status = 200
    let body: string
    try {
      const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { params?: unknown[] }
      body = JSON.stringify({ command: 'OK', columns: [], rows: [], rowCount: parsed.params?.length ?? 0, warnings: [] })
    } catch {
      status = 400
      body = '{"error":{"code":"BAD_JSON"}}'
    }
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  })
})

server.listen(0, '127.0.0.1', () => {
  const a = server.address()
  if (a && typeof a === 'object') console.log(JSON.stringify({ listen: `${a.address}:${a.port}` }))
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))
