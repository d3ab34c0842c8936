#!/usr/bin/env node
// `npm run cluster:demo`: a local 3-node cluster from etc/cluster-demo/node{1,2,3}.yaml (data in
// ./data/demo-N, client API on 127.0.0.1:8081-8083), every node's log lines shown with its name.
// Ctrl-C stops all three cleanly (SIGTERM, as systemd would). Kill one with `kill -9 <pid>` (the
// pids are printed) to watch the others mark it down; `npm run cluster:demo -- --node 2` restarts
// just node 2 in another terminal.
import { spawn, spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const { values } = parseArgs({ options: { node: { type: 'string', multiple: true } } })
const ids = (values.node ?? ['1', '2', '3']).map(Number)
if (ids.some(i => ![1, 2, 3].includes(i))) {
  console.error('usage: npm run cluster:demo [-- --node 1|2|3 ...]')
  process.exit(2)
}

const built = spawnSync(process.execPath, [join(root, 'build.mjs'), '--bundle-only'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] })
if (built.status !== 0) process.exit(built.status ?? 1)

const running = new Set()
let worst = 0
for (const id of ids) {
  const child = spawn(process.execPath, [join(root, 'dist/bundle/main.cjs'), '--config', join(root, `etc/cluster-demo/node${id}.yaml`)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  const prefix = `[node${id}] `
  for (const stream of [child.stdout, child.stderr]) {
    let rest = ''
    stream.on('data', (d) => {
      const lines = (rest + d.toString()).split('\n')
      rest = lines.pop() ?? ''
      for (const l of lines) process.stdout.write(prefix + l + '\n')
    })
  }
  running.add(child)
  console.log(`${prefix}pid ${child.pid}: SQL API http://127.0.0.1:808${id}, metrics http://127.0.0.1:909${id}/metrics`)
  child.on('exit', (code, signal) => {
    console.log(`${prefix}exited (${signal ?? code})`)
    if (code !== 0) worst = 1
    running.delete(child)
    if (running.size === 0) process.exit(worst)
  })
}

let stopping = false
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (stopping) return
    stopping = true
    console.log('stopping the demo cluster…')
    for (const c of running) c.kill('SIGTERM')
  })
}
console.log('try: node dist/bundle/main.cjs cli --url http://127.0.0.1:8083 --command "SHOW CLUSTER MEMBERS"   (Ctrl-C stops every node)')
