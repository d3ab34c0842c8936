// Documentation generated from the schema: the commented default file (etc/scratchbird.yaml)
// and the man page (man/scratchbird.yaml.5). scripts/gen-config-docs.ts writes them and a test
// fails when the committed copies are stale, so the docs cannot drift from the schema.
// Output must be deterministic (no dates, no cwd-dependent paths): it is compared byte for byte.
import YAML from 'yaml'
import type { z } from 'zod'
import { describeConfigKeys, defaultOf, expectedOf, metaOf, objectShape, unwrap } from './load'
import { notInEffect, type NotInEffect } from './not-in-effect'
import { documentSchema } from './schema'

type Schema = z.core.$ZodType

const WIDTH = 96

/**
 * The cluster.yaml of the seed's "Configuration Management", verbatim but for default_factor: the
 * seed's 2 asks for primary/replica copies this release does not make, which a node refuses at
 * start (tests compare it with the verbatim fixture).
 */
export const SEED_CLUSTER_EXAMPLE = `cluster:
  name: scratchbird_prod
  nodes:
    - id: 1
      address: node1.scratchbird.local:5432
      datacenter: us-east-1a
    - id: 2
      address: node2.scratchbird.local:5432
      datacenter: us-east-1b
    - id: 3
      address: node3.scratchbird.local:5432
      datacenter: us-east-1c

replication:
  default_mode: primary_replica
  default_factor: 2
  write_timeout_ms: 5000
  read_timeout_ms: 3000
  hint_expiration_days: 7

anti_entropy:
  interval_ms: 60000
  merkle_tree_window_hours: 1
  sealing_grace_period_minutes: 10

gossip:
  interval_ms: 10000
  fanout: 5
  heartbeat_timeout_ms: 30000
`

/** The per-node part of a file using SEED_CLUSTER_EXAMPLE (node 2, TLS, audit). */
export const NODE_EXAMPLE = `node:
  id: 2
  listen: 0.0.0.0:5432
  # node.listen has the guide's port 5432 (its cluster addresses); PostgreSQL clients use 5433
  pg_listen: 0.0.0.0:5433
  datacenter: us-east-1b
security:
  pg_password: change-me
  tls_enabled: true
  tls_cert: /etc/scratchbird/certs/node.crt
  tls_key: /etc/scratchbird/certs/node.key
  tls_ca: /etc/scratchbird/certs/ca.crt
audit:
  enabled: true
  log_file: /var/log/scratchbird/audit.log
`

/** Greedy word wrap; the first line starts with `prefix`, the others with `next`. */
function wrap (text: string, prefix: string, next = prefix): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const lead = lines.length === 0 ? prefix : next
    if (line !== '' && lead.length + line.length + 1 + word.length > WIDTH) {
      lines.push(lead + line)
      line = word
    } else {
      line = line === '' ? word : `${line} ${word}`
    }
  }
  if (line !== '') lines.push((lines.length === 0 ? prefix : next) + line)
  return lines
}

/** Objects keyed by numbers (shard_workers) print as `{ 0: 0, 5: 1 }`, not with quoted keys. */
function forYaml (value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value
  const entries = Object.entries(value)
  return entries.every(([k]) => /^[0-9]+$/.test(k)) ? new Map(entries.map(([k, v]) => [Number(k), v])) : value
}

/** `key: value` as YAML lines at `indent`; scalars, maps of numbers and empty collections inline. */
function yamlPair (key: string, value: unknown, indent: string): string[] {
  const v = forYaml(value)
  const empty = typeof v === 'object' && v !== null && !(v instanceof Map) && Object.keys(v).length === 0
  if (typeof v !== 'object' || v === null || v instanceof Map || empty) {
    return [`${indent}${key}: ${YAML.stringify(v, { collectionStyle: 'flow', lineWidth: 0 }).trimEnd()}`]
  }
  // Block lists and mappings indented two more than the key, as people write them by hand.
  const body = YAML.stringify(v, { indent: 2, lineWidth: 0 }).trimEnd().split('\n')
  return [`${indent}${key}:`, ...body.map((l) => `${indent}  ${l}`)]
}

function typeLine (s: Schema): string {
  return `Type: ${expectedOf(s).replace(/^an? /, '')}.`
}

/** The sentence marking a key a SIGHUP applies at once (schema.ts Reload). */
const LIVE_TEXT = 'Reloaded live: a SIGHUP applies a change at once.'

/** What the docs say about SIGHUP once, for all keys. */
const RELOAD_TEXT = 'SIGHUP re-reads the file: keys marked "Reloaded live" take effect at once; a change to any other key is logged as a WARNING naming it ("needs a restart") and its running value stays until the node restarts. An invalid file changes nothing (logged as an ERROR).'

/** The sentence marking a key whose feature is not in effect (not-in-effect.ts). */
function notInEffectText (k: NotInEffect): string {
  return `${k.status === 'planned' ? 'NOT IN EFFECT YET' : 'NO EFFECT'}${k.when === undefined ? '' : ` ${k.when}`}: ${k.why}.${k.refuse === true ? ' Setting it stops the node at start.' : ' Asking for it logs a WARNING at start.'}`
}

function yamlKey (key: string, s: Schema, indent: string, path = key): string[] {
  const meta = metaOf(s)
  const u = unwrap(s)
  const type = u?._zod.def.type
  const lines: string[] = []
  if (type === 'object') {
    lines.push(...wrap(String(meta.description ?? ''), `${indent}# `), `${indent}${key}:`)
    const shape = objectShape(u)
    Object.entries(shape).forEach(([k, child], i) => {
      if (i > 0) lines.push('')
      lines.push(...yamlKey(k, child, `${indent}  `, `${path}.${k}`))
    })
    return lines
  }
  lines.push(...wrap(String(meta.description ?? ''), `${indent}# `))
  const off = notInEffect(path)
  if (off !== undefined) lines.push(...wrap(notInEffectText(off), `${indent}# `))
  if (meta.reload === 'live') lines.push(`${indent}# ${LIVE_TEXT}`)
  if (type === 'array') {
    // List items: document their fields here, since they have no defaults to show.
    const itemShape = objectShape((u?._zod.def as unknown as { element: Schema }).element)
    const fields = Object.entries(itemShape)
    if (fields.length > 0) lines.push(`${indent}# Each item:`)
    for (const [k, f] of fields) {
      const required = unwrap(f) === f ? 'required' : 'optional'
      lines.push(...wrap(`${k} (${required}): ${String(metaOf(f).description ?? '')} ${typeLine(f)}`, `${indent}#   `, `${indent}#     `))
    }
  }
  lines.push(`${indent}# ${typeLine(s)}`)
  const dflt = defaultOf(s)
  const example = meta.example === undefined ? [] : yamlPair(key, meta.example, '')
  if (dflt === undefined) {
    // No default: show the key commented out, with an example value to uncomment.
    lines.push(...(example.length > 0 ? example : [`${key}:`]).map((l) => `${indent}# ${l}`))
    return lines
  }
  if (example.length > 0) lines.push(`${indent}# Example:`, ...example.map((l) => `${indent}#   ${l}`))
  lines.push(...yamlPair(key, dflt, indent))
  return lines
}

/** etc/scratchbird.yaml: every key, its documentation as comments, and its default value. */
export function renderDefaultYaml (): string {
  const header = [
    'ScratchBird node configuration: every key with its default value, so this file starts a one-node server keeping its data under ./data.',
    'GENERATED from src/core/config/schema.ts by `npx tsx scripts/gen-config-docs.ts`: edit the schema, not this file.',
    'Relative paths resolve against the working directory of the scratchbird process. Unknown keys and bad values stop the server at start, naming the key. Command-line flags (--data-dir, --listen, --metrics-listen, --node-id) override the node section. See scratchbird.yaml(5).',
    RELOAD_TEXT
  ]
  const lines: string[] = []
  header.forEach((p, i) => lines.push(...(i > 0 ? ['#'] : []), ...wrap(p, '# ')))
  for (const [section, s] of Object.entries(objectShape(documentSchema))) {
    lines.push('', ...yamlKey(section, s, ''))
  }
  return lines.join('\n') + '\n'
}

// ---------------------------------------------------------------------------------------------
// roff

const ROFF_CHARS: Record<string, string> = { '≥': '\\(>=', '≤': '\\(<=', '—': '\\(em', '–': '\\(en', '→': '\\(->', '…': '...', '×': '\\(mu' }

/** Escape text for roff: backslashes, minus signs, non-ASCII, and control-line starts. */
export function roffEscape (text: string): string {
  const escaped = text.replace(/\\/g, '\\e').replace(/-/g, '\\-')
    .replace(/[^\x20-\x7e\n]/gu, (c) => ROFF_CHARS[c] ?? `\\[u${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}]`)
  // A line starting with . or ' would be read as a request.
  return escaped.replace(/^([.'])/gm, '\\&$1')
}

function roffBlock (text: string): string[] {
  return ['.PP', '.RS 4', '.nf', ...text.trimEnd().split('\n').map(roffEscape), '.fi', '.RE']
}

function roffDefault (value: unknown): string {
  return YAML.stringify(forYaml(value), { collectionStyle: 'flow', lineWidth: 0 }).trimEnd()
}

/** man/scratchbird.yaml.5 */
export function renderManPage (): string {
  const out: string[] = [
    '.\\" Generated from src/core/config/schema.ts by scripts/gen-config-docs.ts; do not edit.',
    '.TH SCRATCHBIRD.YAML 5 "" "ScratchBird" "File Formats Manual"',
    // No hyphenation: key names and error codes must stay greppable.
    '.nh',
    '.SH NAME',
    'scratchbird.yaml \\- configuration file of a ScratchBird database node',
    '.SH SYNOPSIS',
    '.B scratchbird',
    '.B \\-\\-config',
    '.I etc/scratchbird.yaml',
    '.SH DESCRIPTION',
    ...[
      'A ScratchBird node reads one YAML file, named with --config. The file is a mapping of sections (node, storage, cluster, replication, anti_entropy, gossip, security, audit, lsm, logging, http), each a mapping of keys. Every key is optional and has the default shown below, so an empty file, or no file, runs a one-node server keeping its data under ./data. A section whose keys are all commented out counts as empty. The seed\'s cluster.yaml sections are accepted as written.',
      'Relative paths (node.data_dir, logging.dir, audit.log_file, the security.tls_* files) resolve against the working directory of the scratchbird process; logging.files.* resolve against logging.dir.',
      'The command-line flags --data-dir, --listen, --metrics-listen and --node-id override node.data_dir, node.listen, node.metrics_listen and node.id, and are checked like values from the file.',
      'Unknown keys and invalid values stop the node at start (error SB_CONFIG_INVALID), listing every problem as the key\'s path, what was expected and what was found, for example:'
    ].flatMap((p) => ['.PP', roffEscape(p)]),
    ...roffBlock('gossip.fanout: expected an integer ≥ 1, got "lots"\ngossip.fanuot: unknown key (expected one of interval_ms, fanout, heartbeat_timeout_ms)'),
    '.PP',
    roffEscape('A file that cannot be read or is not valid YAML stops it with SB_CONFIG_UNREADABLE and the line and column of the error.'),
    '.PP',
    roffEscape(RELOAD_TEXT),
    '.PP',
    roffEscape('Some keys of the seed\'s cluster.yaml are accepted before their feature exists; each is marked NOT IN EFFECT YET (or NO EFFECT, where the storage engine has no such knob) below, saying what happens instead. A node logs a WARNING at start for each of them the file asks for, scratchbird --check-config lists them, and security.tls_enabled: true (or a replication.default_factor above the copies replication.default_mode keeps in this release) stops the node (SB_CONFIG_INVALID) rather than serve without what the key promises.')
  ]
  const keys = describeConfigKeys()
  for (const [section, s] of Object.entries(objectShape(documentSchema))) {
    out.push(`.SS ${section}`, roffEscape(String(metaOf(s).description ?? '')))
    for (const k of keys.filter((k) => k.path.startsWith(`${section}.`))) {
      const dflt = k.default !== undefined ? `Default: ${roffDefault(k.default)}.` : k.required ? 'Required.' : 'No default.'
      const off = notInEffect(k.path)
      out.push('.TP', `.B ${roffEscape(k.path)}`, roffEscape(k.description), '.br', roffEscape(`Type: ${k.type}. ${dflt}`))
      if (off !== undefined) out.push('.br', roffEscape(notInEffectText(off)))
      if (k.reload === 'live') out.push('.br', roffEscape(LIVE_TEXT))
    }
  }
  out.push(
    '.SH EXAMPLES',
    '.PP', roffEscape('The cluster.yaml of the operations guide: three nodes sharing one file. Each node also needs its own node section (id, listen); the listen port must match its address in cluster.nodes.'),
    ...roffBlock(SEED_CLUSTER_EXAMPLE),
    '.PP', roffEscape('Node 2 of that cluster, with TLS between nodes and an audit log:'),
    ...roffBlock(NODE_EXAMPLE),
    '.PP', roffEscape('Check a file without starting the node:'),
    ...roffBlock('scratchbird --config /etc/scratchbird/cluster.yaml --check-config'),
    '.SH FILES',
    '.TP', '.I etc/scratchbird.yaml', roffEscape('Every key with its documentation and default value; generated from the same schema as this page.'),
    '.TP', '.I /etc/scratchbird/cluster.yaml', roffEscape('Conventional location of a production node\'s file.'),
    '.TP', `.I ${roffEscape('<data_dir>/shards/<shard_id>/')}`, roffEscape('One database per shard replica.'),
    '.TP', `.I ${roffEscape('<logging.dir>/')}`, roffEscape('Log files: scratchbird.log, replication.log, anti_entropy.log, slow_query.log, audit.log.'),
    '.SH SEE ALSO',
    '.BR scratchbird (1)'
  )
  return out.join('\n') + '\n'
}
