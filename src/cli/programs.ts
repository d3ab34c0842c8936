// The one table of program names and their flags (DESIGN §1): `--help`, dispatch and the man
// pages' synopsis all derive from it. Every name is the same binary (busybox style).
import { NODE_ID_MAX, NODE_ID_MIN } from '../core/ids'
import { CREDENTIAL_FLAGS } from './credentials'

export interface FlagInfo {
  readonly name: string
  readonly value?: string
  /** One-letter alias, e.g. -f. */
  readonly short?: string
  readonly help: string
}

export interface ProgramInfo {
  readonly summary: string
  /** Subcommand accepted as the first argument of `scratchbird` (e.g. `scratchbird cli …`). */
  readonly subcommand: string
  readonly flags: readonly FlagInfo[]
  /** false: the name dispatches, but the tool itself arrives in a later release. */
  readonly available: boolean
  /** Positional arguments the program takes, as the usage line shows them (none when absent). */
  readonly args?: string
}

/** The CA bundle of the programs that talk to a node over https (cli/tls-client.ts). */
const CACERT_FLAG: FlagInfo = { name: 'cacert', value: 'FILE', help: 'CA certificate(s) to verify a TLS node with (https://; default: security.tls_ca of --config when it enables TLS, else the system\'s CAs)' }

const COMMON: FlagInfo[] = [
  { name: 'help', help: 'print this help and exit' },
  { name: 'version', help: 'print the version and exit' }
]

export const PROGRAMS = {
  scratchbird: {
    summary: 'start a ScratchBird node (the database server)',
    subcommand: 'server',
    available: true,
    flags: [
      { name: 'config', value: 'FILE', help: 'YAML configuration file (default: built-in defaults, as etc/scratchbird.yaml)' },
      { name: 'data-dir', value: 'DIR', help: 'data directory; overrides node.data_dir' },
      { name: 'listen', value: 'HOST:PORT', help: 'client/RPC HTTP address; overrides node.listen' },
      { name: 'node-id', value: 'N', help: `node id ${NODE_ID_MIN}..${NODE_ID_MAX}; overrides node.id` },
      { name: 'metrics-listen', value: 'HOST:PORT', help: 'Prometheus metrics address; overrides node.metrics_listen' },
      { name: 'pg-listen', value: 'HOST:PORT', help: 'PostgreSQL protocol address, or off; overrides node.pg_listen' },
      { name: 'log-level', value: 'LEVEL', help: 'ERROR, WARNING, INFO or DEBUG; overrides logging.level' },
      { name: 'check-config', help: 'validate the configuration, print every problem, exit 0 if valid' },
      ...COMMON
    ]
  },
  scratchbird_cli: {
    summary: 'run SQL and operator commands against a node (prompt, --command or a file)',
    subcommand: 'cli',
    available: true,
    flags: [
      { name: 'command', value: 'SQL', help: 'statement(s) to run, e.g. "SHOW CLUSTER MEMBERS"; ;-separated run in order' },
      { name: 'file', short: 'f', value: 'FILE', help: 'run the statements in FILE' },
      { name: 'url', value: 'URL', help: 'node to talk to, e.g. http://127.0.0.1:8080' },
      { name: 'host', value: 'HOST:PORT', help: 'node to talk to (same as --url http://HOST:PORT)' },
      { name: 'config', value: 'FILE', help: 'talk to node.listen of this configuration' },
      CACERT_FLAG,
      { name: 'format', value: 'table|json|csv', help: 'output format (default table)' },
      { name: 'health', help: 'print the node\'s /v1/health answer' },
      ...CREDENTIAL_FLAGS,
      ...COMMON
    ]
  },
  scratchbird_audit: {
    summary: 'check an audit log: `verify FILE` checks its hash chain (and FILE.head), exit 0 when intact, 1 naming the first bad line',
    subcommand: 'audit',
    available: true,
    args: 'verify FILE',
    flags: [
      { name: 'head', value: 'FILE', help: 'the head file to check the end against (default: FILE.head when it exists)' },
      { name: 'json', help: 'print the verdict as one JSON object' },
      ...COMMON
    ]
  },
  scratchbird_migrate: {
    summary: 'migrate a data directory between catalog versions (--from=alpha --to=beta)',
    subcommand: 'migrate',
    available: true,
    flags: [
      { name: 'from', value: 'alpha', help: 'the format the data directory is in' },
      { name: 'to', value: 'beta', help: 'the format to migrate it to (this release\'s)' },
      { name: 'target', value: 'DIR', help: 'data directory to migrate (default: node.data_dir of --config, else ./data); no node may run on it' },
      { name: 'config', value: 'FILE', help: 'configuration whose node.data_dir is the default target' },
      { name: 'dry-run', help: 'print the statements the migration would run and change nothing' },
      { name: 'no-backup', help: 'do not take a full backup of the directory first' },
      { name: 'backup-output', value: 'FILE', help: 'where the backup taken first goes (default: DIR.alpha-<time>.tar.gz beside the data directory)' },
      ...COMMON
    ]
  },
  scratchbird_backup: {
    summary: 'full or incremental backup of a node (--type=full|incremental --output=FILE)',
    subcommand: 'backup',
    available: true,
    flags: [
      { name: 'type', value: 'full|incremental', help: 'full (default): a consistent snapshot of every shard, the catalog and the node identity; incremental: every shard\'s commit log since the last backup' },
      { name: 'output', value: 'FILE', help: 'the backup file to write (gzip-compressed when it ends in .gz or .tgz); refused if it exists' },
      { name: 'url', value: 'URL', help: 'node to back up, e.g. http://127.0.0.1:8080 (default: node.listen of --config, else http://127.0.0.1:8080); with --cluster, every node\'s URL, comma-separated' },
      { name: 'cluster', help: 'back up every node of the cluster cut at one cluster-wide HLC into the directory --output=DIR (one archive per node and cluster-manifest.json)' },
      { name: 'config', value: 'FILE', help: 'back up the node at node.listen of this configuration' },
      ...CREDENTIAL_FLAGS,
      CACERT_FLAG,
      ...COMMON
    ]
  },
  scratchbird_verify_backup: {
    summary: 'verify a backup file (--file=FILE)',
    subcommand: 'verify-backup',
    available: true,
    flags: [
      { name: 'file', value: 'FILE', help: 'the backup file (plain tar or gzip) to check end to end, or a cluster backup\'s directory (every node\'s archives against its cluster-manifest.json)' },
      ...COMMON
    ]
  },
  scratchbird_restore: {
    summary: 'restore a backup into a data directory (--file=FILE --target=DIR)',
    subcommand: 'restore',
    available: true,
    flags: [
      { name: 'file', value: 'FILE', help: 'the backup file (plain tar or gzip) to restore, or a cluster backup\'s directory (with --node)' },
      { name: 'backup', value: 'FILE', help: 'same as --file (the spelling of the seeds\' rollback section)' },
      { name: 'target', value: 'DIR', help: 'data directory to restore into (default: node.data_dir of --config, else ./data)' },
      { name: 'config', value: 'FILE', help: 'configuration whose node.data_dir is the default target' },
      { name: 'force', help: 'replace a non-empty target that is not this node\'s data directory (its contents are moved aside, never deleted)' },
      { name: 'node', value: 'N', help: 'a cluster backup (--file=DIR): the node whose part to restore (default: node.id of --config)' },
      { name: 'replay-commit-log', help: 'an incremental backup: stage its commit log for scratchbird_replay_commit_log --until instead of applying all of it' },
      ...COMMON
    ]
  },
  scratchbird_replay_commit_log: {
    summary: 'point-in-time recovery: replay the commit log (--until=TIME)',
    subcommand: 'replay-commit-log',
    available: true,
    flags: [
      { name: 'until', value: 'TIME', help: 'apply the staged commit log up to this commit time, e.g. "2026-01-10 15:30:00" (UTC unless an offset is given)' },
      { name: 'target', value: 'DIR', help: 'data directory holding the staged log (default: node.data_dir of --config, else ./data)' },
      { name: 'config', value: 'FILE', help: 'configuration whose node.data_dir is the default target' },
      ...COMMON
    ]
  }
} as const satisfies Record<string, ProgramInfo>

export type ProgramName = keyof typeof PROGRAMS

export function programFor (invokedAs: string, firstArg: string | undefined): { program: ProgramName, argsFrom: number } {
  const base = invokedAs.replace(/^.*[\\/]/, '').replace(/\.(exe|cjs|js|ts)$/, '')
  if (base in PROGRAMS && base !== 'scratchbird') return { program: base as ProgramName, argsFrom: 0 }
  for (const [name, info] of Object.entries(PROGRAMS)) {
    if (firstArg === info.subcommand) return { program: name as ProgramName, argsFrom: 1 }
  }
  return { program: 'scratchbird', argsFrom: 0 }
}

export function helpText (program: ProgramName): string {
  const info: ProgramInfo = PROGRAMS[program]
  const lines = [`${program} — ${info.summary}`, '', `usage: ${program} [flags]${info.args !== undefined ? ` ${info.args}` : ''}`, '', 'flags:']
  for (const f of info.flags) {
    const left = `  ${f.short ? `-${f.short}, ` : ''}--${f.name}${f.value ? ` ${f.value}` : ''}`
    lines.push(`${left.padEnd(30)} ${f.help}`)
  }
  if (program === 'scratchbird') {
    lines.push('', 'commands (first argument, or invoke the binary under that name):')
    for (const [name, p] of Object.entries(PROGRAMS) as [string, ProgramInfo][]) {
      if (name !== 'scratchbird') lines.push(`  ${p.subcommand.padEnd(20)} ${name}: ${p.summary}${p.available ? '' : ' (not in this release)'}`)
    }
    lines.push('', 'signals: SIGTERM/SIGINT stop cleanly; SIGHUP reloads logging settings and reopens log files.')
  }
  if (program === 'scratchbird_cli') lines.push('', 'Without --command or --file: an interactive prompt (statements end with ;, \\q quits) on a terminal, else the statements on standard input.')
  if (!info.available) lines.push('', 'This tool is not available in this release yet.')
  return lines.join('\n') + '\n'
}
