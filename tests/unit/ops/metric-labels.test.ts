import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createMetrics, nodeIdLabel, nodeLabel, shardLabel } from '../../../src/ops/metrics'
import { asNodeId, asShardId } from '../../../src/core/ids'

// Issue 13 item 9: label values as the seed's Observability section prints them.

function sourceFiles (dir: string): string[] {
  return readdirSync(dir).flatMap(name => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : []
  })
}

describe('metric label values', () => {
  it('format shard ids zero-padded to 3 and nodes as nodeN, as the seed prints them', () => {
    expect(shardLabel(asShardId(1))).toBe('001')
    expect(shardLabel(asShardId(0))).toBe('000')
    expect(shardLabel(asShardId(42))).toBe('042')
    expect(shardLabel(asShardId(1234))).toBe('1234')
    expect(nodeLabel(asNodeId(3))).toBe('node3')
    expect(nodeIdLabel(asNodeId(1))).toBe('1')
  })

  it('render in /metrics exactly like the seed lines', async () => {
    const m = createMetrics()
    m.quorumWriteFailures.inc({ shard_id: shardLabel(asShardId(1)) }, 3)
    m.hintLogSizeBytes.set({ target_node: nodeLabel(asNodeId(3)) }, 1048576)
    m.hlcCounter.set({ node_id: nodeIdLabel(asNodeId(1)) }, 42)
    const text = await m.registry.metrics()
    // Prometheus' text format has no space after the comma the seed prints; names and values match.
    expect(text).toContain('scratchbird_quorum_write_failures_total{shard_id="001"} 3')
    expect(text).toContain('scratchbird_hint_log_size_bytes{target_node="node3"} 1048576')
    expect(text).toContain('scratchbird_hlc_counter{node_id="1"} 42')
  })

  it('are set through the helpers everywhere in src (no String(id) at a call site)', () => {
    const root = join(__dirname, '../../../src')
    const offenders: string[] = []
    for (const file of sourceFiles(root)) {
      const text = readFileSync(file, 'utf8')
      // A labels object passed to .inc/.set/.labels/.observe whose shard/node label is not a helper call.
      const re = /\.(?:inc|set|labels|observe|dec)\(\{[^}]*\b(shard_id|target_node|replica|node_id): (?!shardLabel\(|nodeLabel\(|nodeIdLabel\()[^,}]+/g
      for (const m of text.matchAll(re)) offenders.push(`${file.slice(root.length + 1)}: ${m[0]}`)
    }
    expect(offenders).toEqual([])
  })
})
