import { execFileSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { CODEC_VERSIONS } from '../../src/core/codec-versions'
import { afterAll, describe, expect, it } from 'vitest'
import { RPC_CONTENT_TYPE, RPC_HEADER_CLUSTER, RPC_HEADER_NODE_ID, RPC_HEADER_SECRET, RPC_PATH } from '../../src/net/rpc/headers'
import { RPC_OPCODES } from '../../src/net/rpc/opcodes'
import { rpcPayloads } from '../../src/net/rpc/payloads'
import { decodeErrorPayload } from '../../src/net/rpc/remote-error'
import { decodeFrame, encodeFrame } from '../../src/net/rpc/wire'
import { TEST_CLUSTER_SECRET } from '../helpers/cluster-harness'
import { useReplicatedCluster } from '../helpers/mode1'
import { ROOT, tempDir } from '../helpers/node-process'
import { caughtUp, everyAckedOnEveryNode, expectServed, startLoads } from '../helpers/rolling-load'

// Issue 20 item 4 with TWO BUILDS of the project on real processes: a rolling upgrade from the
// current build to a rehearsal of the next release. Both are bundles built here by build.mjs; the
// next one with `--next-codec gossip,rpcPayload`, an esbuild define that makes it read the gossip
// codec and the generic RPC payload codec up to their version + 1 (core/codec-versions.ts) — a
// different program, not a runtime flag. Three nodes start on the current build with a writer and
// a reader per table running (a primary_replica table `m`, N = 3; a leaderless_quorum table `q`,
// N = 3, W = R = 2); then each node in turn is stopped (SIGTERM), started from the next build on
// the same data directory, and waited for until every node sees every member normal and every
// Mode 1 replica is caught up.
//
// What a user and an operator rely on, asserted:
// - every node ends on the next build (scratchbird_codec_version, per node and phase);
// - the mixed phases really mixed: after each replacement the old nodes see the new node normal
//   again (only its own gossip, decoded by an old node, brings a restarted node back) and the
//   Mode 1 replicas — old and new — catch up with primaries of the other build;
// - no peer refused anything (scratchbird_codec_version_refused_total stays 0 for the cluster's
//   own traffic): writers put every message in the lowest version that carries it. That this is
//   what kept it at 0 is shown by a probe each phase: a PING in the next version is refused by
//   every node of the current build (SB_CODEC_VERSION, counted) and answered by every node of the
//   next one — a message that needs the new version works once its receiver is upgraded;
// - no acknowledged write lost (every acknowledged key on every node's own copy at the end);
// - no statement a quorum could serve is refused: the leaderless table never for want of live
//   replicas, the Mode 1 table only with the retryable codes of a primary hand-over.

const SHARDS = 4
// As the rolling restart test: a 1 s election timeout lets elections start on their own at a
// load average of 20 on this 2-core machine.
const ELECTION_TIMEOUT_MS = 2000
const NEXT_CODECS = 'gossip,rpcPayload'
const builds = tempDir('sb-upgrade-builds-')
const CURRENT = join(builds, 'current', 'main.cjs')
const NEXT = join(builds, 'next', 'main.cjs')
/** The bundle each node runs at its next start. */
const programOf = new Map<number, string>()

function build (dir: string, ...extra: string[]): void {
  execFileSync(process.execPath, [join(ROOT, 'build.mjs'), '--outdir', join(builds, dir), ...extra], { cwd: ROOT, stdio: 'pipe', timeout: 300_000 })
}

const t = useReplicatedCluster({
  nodes: 3,
  shards: SHARDS,
  replication: { election_timeout_ms: ELECTION_TIMEOUT_MS, heartbeat_ms: 200 },
  startTimeoutMs: 180_000,
  prepare: async () => {
    build('current')
    build('next', '--next-codec', NEXT_CODECS)
  },
  program: (id) => programOf.get(id) ?? CURRENT
})
afterAll(() => { rmSync(builds, { recursive: true, force: true }) })

/** Node `id`'s metric samples named `name`, by their label text ('{codec="gossip"}'). */
async function samples (id: number, name: string): Promise<Map<string, number>> {
  const text = await (await fetch(t.cluster.node(id).metricsUrl(), { signal: AbortSignal.timeout(15_000) })).text()
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`).exec(line)
    if (m !== null) out.set(m[1] ?? '', Number(m[2]))
  }
  return out
}

/** Which build node `id` runs, as it reports it: the versions of the two codecs the next build reads further. */
async function buildOf (id: number): Promise<'current' | 'next'> {
  const v = await samples(id, 'scratchbird_codec_version')
  const gossip = v.get('{codec="gossip"}')
  const payload = v.get('{codec="rpcPayload"}')
  if (gossip === CODEC_VERSIONS.gossip && payload === CODEC_VERSIONS.rpcPayload) return 'current'
  if (gossip === CODEC_VERSIONS.gossip + 1 && payload === CODEC_VERSIONS.rpcPayload + 1) return 'next'
  throw new Error(`node ${id} reports codec versions ${JSON.stringify([...v])}`)
}

/** Codec refusals node `id` counted, by codec label. */
async function refusals (id: number): Promise<Record<string, number>> {
  return Object.fromEntries([...await samples(id, 'scratchbird_codec_version_refused_total')].map(([k, n]) => [k, n]))
}

/**
 * A PING whose payload is in the next version of the RPC payload codec, straight to node `id`'s
 * RPC endpoint: 'ok' (echoed) or the code it was refused with.
 */
async function probeNextPing (id: number): Promise<string> {
  const body = rpcPayloads('PING').request.encode(new TextEncoder().encode('next'))
  body[0] = CODEC_VERSIONS.rpcPayload + 1
  const res = await fetch(`http://${t.cluster.node(id).listen}${RPC_PATH}`, {
    method: 'POST',
    headers: { 'content-type': RPC_CONTENT_TYPE, [RPC_HEADER_SECRET]: TEST_CLUSTER_SECRET, [RPC_HEADER_CLUSTER]: 'sb-test', [RPC_HEADER_NODE_ID]: String(id === 1 ? 2 : 1) },
    body: encodeFrame([{ kind: 'request', opcode: RPC_OPCODES.PING, id: 1, body }]),
    signal: AbortSignal.timeout(15_000)
  })
  expect(res.status).toBe(200)
  const [reply] = decodeFrame(new Uint8Array(await res.arrayBuffer()), 'reply')
  if (reply!.kind === 'ok') {
    // The echo comes back in the version every node reads (v1), whatever the request's.
    expect(new TextDecoder().decode(rpcPayloads('PING').reply.decode(reply!.body))).toBe('next')
    return 'ok'
  }
  return decodeErrorPayload(reply!.body, `node ${id}`).code
}

describe('rolling upgrade of three nodes to a build with newer codec versions, under load (issue 20 item 4)', () => {
  it('mixes the two builds without a refused message, loses no acknowledged write, and ends on the new build', async () => {
    expect(await Promise.all(t.cluster.ids.map(buildOf))).toEqual(['current', 'current', 'current'])
    let replacing = 0
    const { loads, running } = await startLoads(t, () => replacing)

    /** Probes of the next version each node's current process refused: what its refusal counter may hold. */
    const probed = new Map<number, number>(t.cluster.ids.map(id => [id, 0]))
    const t0 = Date.now()
    const mark = (what: string): void => { process.stdout.write(`+${((Date.now() - t0) / 1000).toFixed(1)} s ${what}\n`) }
    for (const id of t.cluster.ids) {
      const before = loads.map(l => l.acked.length)
      replacing = id
      mark(`stopping node ${id} (current build)`)
      await t.cluster.stop(id)
      programOf.set(id, NEXT)
      probed.set(id, 0) // a new process counts from 0
      await t.cluster.start(id)
      mark(`node ${id} started on the next build`)
      await caughtUp(t, `node ${id} on the next build and caught up`)
      mark(`node ${id} caught up`)
      replacing = 0
      await t.cluster.waitFor(() => loads.every((l, i) => l.acked.length > before[i]! + 5), { what: `writes after node ${id}'s upgrade`, timeoutMs: 180_000 })

      // Each node runs the build it was last started with.
      const expected = t.cluster.ids.map(n => n <= id ? 'next' : 'current')
      expect(await Promise.all(t.cluster.ids.map(buildOf)), `builds after node ${id}'s upgrade`).toEqual(expected)
      // A message in the next version: refused (and counted) by the current build, served by the next.
      for (const n of t.cluster.ids) {
        const outcome = await probeNextPing(n)
        expect(outcome, `next-version PING to node ${n} (${expected[n - 1]} build)`).toBe(expected[n - 1] === 'next' ? 'ok' : 'SB_CODEC_VERSION')
        if (outcome !== 'ok') probed.set(n, probed.get(n)! + 1)
      }
      // ...and nothing else was refused anywhere: the two builds' own traffic went out in versions both read.
      for (const n of t.cluster.ids) {
        const p = probed.get(n)!
        expect(await refusals(n), `refused payloads on node ${n} after node ${id}'s upgrade`).toEqual(p === 0 ? {} : { '{codec="PING"}': p })
      }
      mark(`upgrade of node ${id} done: builds ${expected.join(', ')}`)
    }
    for (const l of loads) l.stop()
    await Promise.all(running)

    // Nothing a quorum could serve refused (as in the rolling restart).
    expectServed(loads, t0)

    await t.sameLsn('every Mode 1 replica to hold its shard\'s whole log')
    await everyAckedOnEveryNode(t, loads)
  }, 900_000)
})
