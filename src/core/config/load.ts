// Loading the configuration: YAML text → plain object → command-line overrides → zod validation
// → absolute paths. Every problem is reported at once, each as
// `<dotted.path>: expected <what>, got <value>`, with <what> read from the schema itself
// (schema.ts) so messages, docs and the checks cannot drift apart.
import { readFileSync } from 'node:fs'
import { isAbsolute, resolve } from 'node:path'
import YAML from 'yaml'
import { z } from 'zod'
import { ScratchBirdError } from '../errors'
import { configSchema, documentSchema, type Config } from './schema'

export type { Config, ConfigInput } from './schema'

/** Command-line flags that override file values (validated like them, reported at node.*). */
export interface ConfigOverrides {
  data_dir?: unknown
  listen?: unknown
  metrics_listen?: unknown
  pg_listen?: unknown
  /** A number, or a string of digits as it comes from argv. */
  node_id?: unknown
}

const OVERRIDE_KEYS: Record<keyof ConfigOverrides, string> = {
  data_dir: 'data_dir',
  listen: 'listen',
  metrics_listen: 'metrics_listen',
  pg_listen: 'pg_listen',
  node_id: 'id'
}

export interface LoadConfigOptions {
  /** Path of the YAML file; also names the source in messages when `text` is given. */
  file?: string
  /** YAML text to use instead of reading `file`. Neither: built-in defaults. */
  text?: string
  overrides?: ConfigOverrides
  /** Directory relative paths resolve against; default process.cwd(). */
  cwd?: string
}

/**
 * Load, validate and complete a configuration. Throws ScratchBirdError SB_CONFIG_UNREADABLE
 * (missing file, YAML syntax; details: file, line, column) or SB_CONFIG_INVALID
 * (details: file, problems — every problem found).
 */
export function loadConfig (options: LoadConfigOptions = {}): Config {
  const text = options.text ?? (options.file === undefined ? '' : readConfigFile(options.file))
  return validateConfig(parseYaml(text, options.file), options)
}

/** The configuration an empty file gives (paths resolved against `cwd`). */
export function defaultConfig (cwd = process.cwd()): Config {
  return validateConfig({}, { cwd })
}

/** Validate an already-parsed document (what YAML.parse returns). Same errors as loadConfig. */
export function validateConfig (document: unknown, options: Omit<LoadConfigOptions, 'text'> = {}): Config {
  const { doc, fromCommandLine } = applyOverrides(dropNullSections(document), options.overrides ?? {})
  const result = configSchema.safeParse(doc)
  if (!result.success) {
    const problems = formatIssues(result.error.issues, doc, fromCommandLine)
    const where = options.file === undefined ? 'configuration' : `configuration ${options.file}`
    throw new ScratchBirdError('SB_CONFIG_INVALID',
      `invalid ${where} (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  ${problems.join('\n  ')}`,
      { file: options.file, problems })
  }
  return resolvePaths(result.data, options.cwd ?? process.cwd())
}

function readConfigFile (file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code ?? String(e)
    throw new ScratchBirdError('SB_CONFIG_UNREADABLE', `cannot read configuration file ${file}: ${reason}`, { file, reason }, { cause: e })
  }
}

function parseYaml (text: string, file: string | undefined): unknown {
  // uniqueKeys: a key given twice is almost always an editing mistake, not an override.
  // logLevel error: yaml's warnings (e.g. a list used as a key) would go to process warnings;
  // such documents fail validation with a proper message instead.
  // resolveKnownTags off: !!binary, !!set, !!timestamp … have no place in a config; they are
  // read as the plain strings and mappings underneath.
  const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: true, logLevel: 'error', resolveKnownTags: false })
  const error = doc.errors[0]
  if (error !== undefined) {
    const pos = error.linePos?.[0]
    // prettyErrors appends " at line L, column C:" and a source excerpt; we say where ourselves.
    const firstLine = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')
    throw new ScratchBirdError('SB_CONFIG_UNREADABLE',
      `cannot parse ${file ?? 'configuration'} as YAML${pos ? ` (line ${pos.line}, column ${pos.col})` : ''}: ${firstLine}`,
      { file, line: pos?.line, column: pos?.col, reason: error.code })
  }
  try {
    // Alias bombs ("billion laughs") are cut off instead of exhausting memory.
    return doc.toJS({ maxAliasCount: 1000 })
  } catch (e) {
    throw new ScratchBirdError('SB_CONFIG_UNREADABLE', `cannot parse ${file ?? 'configuration'} as YAML: ${(e as Error).message}`, { file }, { cause: e })
  }
}

/**
 * A section whose keys are all commented out reads as `null` in YAML (`gossip:`); treat it as an
 * empty section, as operators expect. An empty file is null too. Leaf nulls stay errors.
 */
function dropNullSections (document: unknown): unknown {
  if (document === null || document === undefined) return {}
  if (!isPlainObject(document)) return document
  const out: Record<string, unknown> = { ...document }
  for (const [key, value] of Object.entries(out)) {
    if (value === null && objectShape(documentSchema)[key] !== undefined) delete out[key]
  }
  return out
}

function applyOverrides (document: unknown, overrides: ConfigOverrides): { doc: unknown, fromCommandLine: Set<string> } {
  const fromCommandLine = new Set<string>()
  const entries = Object.entries(overrides).filter(([, v]) => v !== undefined)
  if (entries.length === 0 || !isPlainObject(document)) return { doc: document, fromCommandLine }
  const node: Record<string, unknown> = isPlainObject(document.node) ? { ...document.node } : {}
  for (const [name, value] of entries) {
    const key = Object.hasOwn(OVERRIDE_KEYS, name) ? OVERRIDE_KEYS[name as keyof ConfigOverrides] : undefined
    if (key === undefined) throw new ScratchBirdError('SB_BAD_ARGUMENT', `unknown configuration override: ${name}`)
    node[key] = key === 'id' && typeof value === 'string' && /^[0-9]+$/.test(value) ? Number(value) : value
    fromCommandLine.add(`node.${key}`)
  }
  // A non-mapping `node:` in the file is its own error; the overrides cannot repair it.
  if (document.node !== undefined && !isPlainObject(document.node)) return { doc: document, fromCommandLine }
  return { doc: { ...document, node }, fromCommandLine }
}

/** Every path in a Config is absolute, so later chdir()s and workers cannot reinterpret it. */
function resolvePaths (c: Config, cwd: string): Config {
  const abs = (p: string) => resolve(cwd, p)
  const optional = (p: string | undefined) => p === undefined ? undefined : abs(p)
  const dir = abs(c.logging.dir)
  const inDir = (f: string) => isAbsolute(f) ? f : resolve(dir, f)
  const files = c.logging.files
  return {
    ...c,
    node: { ...c.node, data_dir: abs(c.node.data_dir) },
    security: { ...c.security, tls_cert: optional(c.security.tls_cert), tls_key: optional(c.security.tls_key), tls_ca: optional(c.security.tls_ca) },
    audit: { ...c.audit, log_file: abs(c.audit.log_file) },
    logging: {
      ...c.logging,
      dir,
      files: { main: inDir(files.main), replication: inDir(files.replication), anti_entropy: inDir(files.anti_entropy), slow_query: inDir(files.slow_query), audit: inDir(files.audit) }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Issue formatting.

type Issue = z.core.$ZodIssue

/** Map zod issues to `<path>: expected <what>, got <value>` lines, in order, without repeats. */
export function formatIssues (issues: readonly Issue[], input: unknown, fromCommandLine: ReadonlySet<string> = new Set()): string[] {
  const lines: string[] = []
  const add = (path: readonly PropertyKey[], text: string) => {
    const at = formatPath(path)
    lines.push(`${at}: ${text}${fromCommandLine.has(at) ? ' (from the command line)' : ''}`)
  }
  for (const issue of issues) {
    const path = issue.path
    if (issue.code === 'unrecognized_keys') {
      const known = Object.keys(objectShape(schemaAt(documentSchema, path)))
      for (const key of issue.keys) add([...path, key], `unknown key (expected one of ${known.join(', ')})`)
    } else if (issue.code === 'invalid_key') {
      const record = unwrap(schemaAt(documentSchema, path.slice(0, -1)))
      const keyType = record?._zod.def.type === 'record' ? (record._zod.def as unknown as { keyType: z.core.$ZodType }).keyType : undefined
      add(path, `expected ${keyType ? expectedOf(keyType) : 'a valid key'} as the key, got ${showValue(path.at(-1))}`)
    } else {
      const params = (issue.code === 'custom' ? issue.params : undefined) ?? {}
      const expected = typeof params.expected === 'string' ? params.expected : expectedAt(path, issue.message)
      add(path, `expected ${expected}, got ${'got' in params ? showValue(params.got) : showInput(input, path)}`)
    }
  }
  return [...new Set(lines)]
}

/** The value the file gave, or — when a cross-check trips over a key left out — its default. */
function showInput (input: unknown, path: readonly PropertyKey[]): string {
  const value = valueAt(input, path)
  if (value !== undefined) return showValue(value)
  const schema = schemaAt(documentSchema, path)
  const dflt = schema === undefined ? undefined : defaultOf(schema)
  return dflt === undefined ? 'nothing' : `the default ${showValue(dflt)}`
}

function expectedAt (path: readonly PropertyKey[], fallback: string): string {
  const schema = schemaAt(documentSchema, path)
  return schema === undefined ? fallback : expectedOf(schema)
}

/** `cluster.nodes[1].id`; keys that are not plain names are quoted: `a["b c"]`. */
export function formatPath (path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(top level)'
  let out = ''
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`
    else if (/^[A-Za-z0-9_]+$/.test(String(seg))) out += `${out === '' ? '' : '.'}${String(seg)}`
    else out += `[${JSON.stringify(String(seg))}]`
  }
  return out
}

const MAX_SHOWN = 80

/** The offending value as JSON, shortened; `nothing` when the key is missing. Never throws. */
export function showValue (value: unknown): string {
  if (value === undefined) return 'nothing'
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value)
  if (typeof value === 'bigint') return String(value)
  let text: string
  try {
    text = JSON.stringify(value) ?? String(value)
  } catch {
    text = Object.prototype.toString.call(value) // cyclic (YAML anchors can make those)
  }
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN - 1)}…` : text
}

function valueAt (input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input
  for (const seg of path) {
    // Own properties only: a key named "constructor" must not find Object's.
    if (typeof v !== 'object' || v === null || !Object.hasOwn(v, seg)) return undefined
    v = (v as Record<PropertyKey, unknown>)[seg]
  }
  return v
}

// ---------------------------------------------------------------------------------------------
// What the schema says about itself (used by the messages above and by docs.ts).

type Schema = z.core.$ZodType
interface LooseDef { type: string, checks?: { _zod: { def: { check: string, value?: number, inclusive?: boolean, minimum?: number, maximum?: number } } }[], [k: string]: unknown }
const defOf = (s: Schema) => s._zod.def as unknown as LooseDef

const WRAPPERS = ['default', 'prefault', 'optional', 'nullable', 'readonly', 'catch', 'nonoptional']

/** One wrapper layer down, or undefined when `s` is not a wrapper. */
function unwrapOnce (s: Schema): Schema | undefined {
  const d = defOf(s)
  if (WRAPPERS.includes(d.type)) return d.innerType as Schema
  if (d.type !== 'pipe') return undefined
  // preprocess = pipe(transform → schema): the value is judged by the schema after it;
  // schema.transform(...) = pipe(schema → transform): by the schema before it.
  const input = d.in as Schema
  return defOf(input).type === 'transform' ? d.out as Schema : input
}

/** The schema under default/optional/pipe wrappers: what the value itself must be. */
export function unwrap (s: Schema | undefined): Schema | undefined {
  for (let next = s && unwrapOnce(s); next !== undefined; next = unwrapOnce(next)) s = next
  return s
}

/** All `.meta()` of a key, outer layers (the per-key description) winning over inner ones. */
export function metaOf (s: Schema): Record<string, unknown> {
  const layers: Record<string, unknown>[] = []
  for (let cur: Schema | undefined = s; cur !== undefined; cur = unwrapOnce(cur)) {
    layers.unshift(z.globalRegistry.get(cur) ?? {})
  }
  return Object.assign({}, ...layers)
}

/** The default value of a key, or undefined when it has none. */
export function defaultOf (s: Schema): unknown {
  for (let cur: Schema | undefined = s; cur !== undefined; cur = unwrapOnce(cur)) {
    if (defOf(cur).type === 'default') return defOf(cur).defaultValue
  }
  return undefined
}

/** Keys of an object schema (empty for anything else). */
export function objectShape (s: Schema | undefined): Record<string, Schema> {
  const u = unwrap(s)
  return u !== undefined && defOf(u).type === 'object' ? defOf(u).shape as Record<string, Schema> : {}
}

/** The schema a value at `path` is checked against (undefined off the schema). */
export function schemaAt (root: Schema, path: readonly PropertyKey[]): Schema | undefined {
  let s: Schema | undefined = root
  for (const seg of path) {
    const u = unwrap(s)
    if (u === undefined) return undefined
    const d = defOf(u)
    if (d.type === 'object') s = Object.hasOwn(d.shape as object, seg) ? (d.shape as Record<PropertyKey, Schema>)[seg] : undefined
    else if (d.type === 'array') s = d.element as Schema
    else if (d.type === 'record') s = d.valueType as Schema
    else return undefined
  }
  return s
}

/** A phrase completing "expected …": "an integer between 1 and 65535", "one of "a", "b"". */
export function expectedOf (s: Schema): string {
  const meta = metaOf(s)
  const u = unwrap(s)
  if (u === undefined) return 'a valid value'
  const d = defOf(u)
  const noun = typeof meta.noun === 'string' ? meta.noun : undefined
  switch (d.type) {
    case 'number':
      return withRange(noun ?? (d.format === 'safeint' ? 'an integer' : 'a number'), d)
    case 'string':
      return stringPhrase(noun, d)
    case 'boolean':
      return 'true or false'
    case 'enum':
      return `one of ${Object.values(d.entries as Record<string, string>).map((v) => JSON.stringify(v)).join(', ')}`
    case 'literal':
      return (d.values as unknown[]).map((v) => JSON.stringify(v)).join(' or ')
    case 'union':
      return (d.options as Schema[]).map(expectedOf).join(' or ')
    case 'array':
      return noun ?? 'a list'
    case 'object':
    case 'record':
      return noun ?? 'a mapping'
    default:
      return noun ?? 'a valid value'
  }
}

function withRange (noun: string, d: LooseDef): string {
  let min: { value: number, inclusive: boolean } | undefined
  let max: { value: number, inclusive: boolean } | undefined
  for (const c of d.checks ?? []) {
    const cd = c._zod.def
    if (cd.check === 'greater_than' && cd.value !== undefined) min = { value: cd.value, inclusive: cd.inclusive ?? true }
    if (cd.check === 'less_than' && cd.value !== undefined) max = { value: cd.value, inclusive: cd.inclusive ?? true }
  }
  if (min?.inclusive && max?.inclusive) return `${noun} between ${min.value} and ${max.value}`
  const parts = [
    min && `${min.inclusive ? '≥' : '>'} ${min.value}`,
    max && `${max.inclusive ? '≤' : '<'} ${max.value}`
  ].filter(Boolean)
  return parts.length === 0 ? noun : `${noun} ${parts.join(' and ')}`
}

function stringPhrase (noun: string | undefined, d: LooseDef): string {
  if (noun !== undefined) return noun
  const min = (d.checks ?? []).map((c) => c._zod.def).find((c) => c.check === 'min_length')?.minimum
  if (min === undefined || min === 0) return 'a string'
  return min === 1 ? 'a non-empty string' : `a string of at least ${min} characters`
}

export interface ConfigKeyInfo {
  /** Dotted path; list items as `cluster.nodes[].id`. */
  path: string
  /** What the value must be, e.g. "integer between 1 and 65535". */
  type: string
  /** The default, or undefined when there is none (optional or required). */
  default: unknown
  description: string
  /** True when the key must be given (only inside list items, e.g. cluster.nodes[].id). */
  required: boolean
  /** What SIGHUP does with a change of it (schema.ts Reload). */
  reload: 'live' | 'restart'
}

/** Every settable key, in schema order, for documentation. */
export function describeConfigKeys (): ConfigKeyInfo[] {
  const out: ConfigKeyInfo[] = []
  const walk = (shape: Record<string, Schema>, prefix: string) => {
    for (const [key, s] of Object.entries(shape)) {
      const path = prefix === '' ? key : `${prefix}.${key}`
      const u = unwrap(s)
      const d = u === undefined ? undefined : defOf(u)
      if (d?.type === 'object') { walk(objectShape(u), path); continue }
      out.push({
        path,
        type: expectedOf(s).replace(/^an? /, ''),
        default: defaultOf(s),
        description: String(metaOf(s).description ?? ''),
        required: !['default', 'optional', 'prefault'].includes(defOf(s).type),
        reload: metaOf(s).reload === 'live' ? 'live' : 'restart'
      })
      if (d?.type === 'array') walk(objectShape(d.element as Schema), `${path}[]`)
    }
  }
  walk(objectShape(documentSchema), '')
  return out
}

function isPlainObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
