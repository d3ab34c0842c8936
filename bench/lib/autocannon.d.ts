// The part of autocannon's programmatic API the HTTP benchmarks use (the package ships no types).
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'

  interface RequestData {
    method?: string
    path?: string
    headers?: Record<string, string>
    body?: string | Buffer
  }

  interface Request extends RequestData {
    /** Called for every request a connection sends; return the request to send. */
    setupRequest?: (req: RequestData, context: Record<string, unknown>) => RequestData
  }

  interface Options {
    url: string
    connections?: number
    pipelining?: number
    duration?: number
    timeout?: number
    method?: string
    headers?: Record<string, string>
    requests?: Request[]
  }

  interface Histogram { average: number, mean: number, stddev: number, min: number, max: number, total: number, p50: number, p90: number, p99: number }

  interface Result {
    duration: number
    errors: number
    timeouts: number
    non2xx: number
    resets: number
    '2xx': number
    '4xx': number
    '5xx': number
    statusCodeStats: Record<string, { count: number }>
    latency: Histogram
    requests: Histogram & { sent: number }
  }

  /** With a callback autocannon returns its tracker, which emits 'response' (client, status, bytes, ms). */
  function autocannon (opts: Options, cb: (err: Error | null, result: Result) => void): EventEmitter

  export = autocannon
}
