import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { systemClock } from '../../src/core/clock'
import { ShardEngine } from '../../src/storage/engine'
import { LevelKv } from '../../src/storage/kv-level'
import { ROOT } from '../helpers/node-process'
import { asNodeId, shardIds } from '../../src/core/ids'

// DESIGN §4 crash recovery, for real: a process streaming commits through shard workers is
// SIGKILLed at a random moment; after restart every acknowledged commit is present and no
// transaction is half visible (both rows of a two-row transaction, or neither). Repeated over
// several kills of the same data directory (CRASH_ITERATIONS, default 20), alternating durability.

const ITERATIONS = Number(process.env.CRASH_ITERATIONS ?? 20)
const DRIVER = join(ROOT, 'tests/fixtures/storage/commit-stream.ts')
const SHARDS = 4

interface Acked { auto: Map<number, string[]>, txn: Map<number, [string, string][]> }

function runUntilKilled (dataDir: string, durability: string, killAfterAcks: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', DRIVER, dataDir, durability], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    let acks = 0
    let killed = false
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`driver stalled\n${out.slice(-500)}\n${err}`)) }, 60_000)
    proc.stderr.on('data', (d: Buffer) => { err += d.toString() })
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      acks += d.toString().split('\n').length - 1
      if (!killed && acks >= killAfterAcks) { killed = true; proc.kill('SIGKILL') }
    })
    proc.on('exit', (code, signal) => {
      clearTimeout(timer)
      if (signal !== 'SIGKILL') { reject(new Error(`driver exited ${code}\n${err}`)); return }
      // Only complete lines: a line cut by the kill was not acknowledged to anyone.
      resolve(out.split('\n').slice(0, -1))
    })
  })
}

function parse (lines: string[], into: Acked): void {
  for (const line of lines) {
    const [kind, shard, a, b] = line.split(' ')
    if (kind === 'A') {
      const list = into.auto.get(Number(shard)) ?? []
      list.push(a!)
      into.auto.set(Number(shard), list)
    } else if (kind === 'T') {
      const list = into.txn.get(Number(shard)) ?? []
      list.push([a!, b!])
      into.txn.set(Number(shard), list)
    }
  }
}

async function verify (dataDir: string, acked: Acked): Promise<number> {
  let checked = 0
  for (const shard of shardIds(SHARDS)) {
    const engine = await ShardEngine.open(await LevelKv.open(join(dataDir, 'shards', String(shard))), { shardId: shard, nodeId: asNodeId(1), clock: systemClock })
    try {
      const present = new Set<string>()
      for await (const r of engine.scan(1, {})) present.add(r.pk[0] as string)
      for (const k of acked.auto.get(shard) ?? []) { expect(present.has(k), `acknowledged ${k} lost`).toBe(true); checked++ }
      for (const [a, b] of acked.txn.get(shard) ?? []) { expect(present.has(a) && present.has(b), `acknowledged txn ${a} lost`).toBe(true); checked++ }
      // no transaction half visible, acknowledged or not
      for (const k of present) {
        if (!k.startsWith('t-')) continue
        const other = k.endsWith('-a') ? k.slice(0, -1) + 'b' : k.slice(0, -1) + 'a'
        expect(present.has(other), `partial transaction: ${k} without ${other}`).toBe(true)
      }
    } finally {
      await engine.close()
    }
  }
  return checked
}

describe('crash recovery under SIGKILL', () => {
  it(`keeps every acknowledged commit and no partial transaction, ${ITERATIONS} kills in a row`, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sb-crash-'))
    const acked: Acked = { auto: new Map(), txn: new Map() }
    for (let i = 0; i < ITERATIONS; i++) {
      const lines = await runUntilKilled(dataDir, i % 2 === 0 ? 'none' : 'sync', 50 + Math.floor(Math.random() * 400))
      parse(lines, acked)
      const checked = await verify(dataDir, acked)
      expect(checked).toBeGreaterThan(i * 40)
    }
  }, 600_000)
})
