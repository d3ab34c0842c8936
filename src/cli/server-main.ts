import { loadConfig, type Config } from '../core/config/load'
import { askedNotInEffect, notInEffectLine } from '../core/config/not-in-effect'
import { ScratchBirdError, isScratchBirdError, describe, messageOf } from '../core/errors'
import { parseLogLevel } from '../ops/log'
import { ScratchBirdNode } from '../node/node'
import { checkTlsFiles } from '../node/check-tls'
import type { ParsedFlags } from './args'

// `scratchbird [--config FILE] [flags]`: load and validate the configuration (flags override the
// file and are validated with it), then run the node until SIGTERM/SIGINT.

function overridesFrom (flags: ParsedFlags): Record<string, unknown> {
  const o: Record<string, unknown> = {}
  if (typeof flags['data-dir'] === 'string') o.data_dir = flags['data-dir']
  if (typeof flags.listen === 'string') o.listen = flags.listen
  if (typeof flags['metrics-listen'] === 'string') o.metrics_listen = flags['metrics-listen']
  if (typeof flags['pg-listen'] === 'string') o.pg_listen = flags['pg-listen']
  if (typeof flags['node-id'] === 'string') {
    const n = flags['node-id']
    o.node_id = /^\d+$/.test(n) ? Number(n) : n
  }
  return o
}

export function configFromFlags (flags: ParsedFlags): Config {
  const file = typeof flags.config === 'string' ? flags.config : undefined
  const config = loadConfig({ file, overrides: overridesFrom(flags) })
  if (typeof flags['log-level'] === 'string') {
    const level = parseLogLevel(flags['log-level'])
    if (!level) throw new ScratchBirdError('SB_BAD_ARGUMENT', `--log-level: expected one of ERROR, WARNING, INFO, DEBUG, got "${flags['log-level']}"`)
    config.logging.level = level
  }
  return config
}

export function printConfigError (e: unknown): void {
  if (isScratchBirdError(e)) {
    const problems = e.details.problems
    if (Array.isArray(problems)) {
      process.stderr.write(`scratchbird: invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n`)
      for (const p of problems) process.stderr.write(`  ${String(p)}\n`)
    } else {
      process.stderr.write(`scratchbird: ${e.message} [${e.code}]\n`)
    }
  } else {
    process.stderr.write(`scratchbird: ${(e as Error).stack ?? String(e)}\n`)
  }
}

export async function runServer (flags: ParsedFlags): Promise<number> {
  let config: Config
  try {
    config = configFromFlags(flags)
  } catch (e) {
    printConfigError(e)
    return 2
  }
  const off = askedNotInEffect(config)
  const refused = off.filter(k => k.refuse === true)
  if (flags['check-config']) {
    for (const k of off) process.stdout.write(`${k.refuse === true ? 'refused' : 'warning'}: ${notInEffectLine(k)}\n`)
    if (refused.length > 0) {
      process.stdout.write(`configuration NOT usable: ${refused.map(k => k.path).join(', ')} would make the node start without what the key promises\n`)
      return 1
    }
    try { checkTlsFiles(config) } catch (e) {
      if (!isScratchBirdError(e)) throw e
      process.stdout.write(`configuration NOT usable: ${e.message} [${e.code}]\n`)
      return 1
    }
    process.stdout.write(`configuration OK${typeof flags.config === 'string' ? `: ${flags.config}` : ' (defaults)'}${off.length > 0 ? ` (${off.length} key${off.length === 1 ? '' : 's'} not in effect, listed above)` : ''}\n`)
    return 0
  }
  if (refused.length > 0) {
    printConfigError(new ScratchBirdError('SB_CONFIG_INVALID', `refusing to start: ${refused.map(notInEffectLine).join('; ')}`, { keys: refused.map(k => k.path) }))
    return 2
  }

  let exitCode = 0
  const node = new ScratchBirdNode(config, (reason) => {
    node.log.error(`fatal: ${reason}; shutting down`)
    exitCode = 1
    void node.stop().then(() => process.exit(exitCode))
  })
  const stop = (signal: string): void => {
    node.log.info(`received ${signal}`)
    const timer = setTimeout(() => {
      node.log.error({ step: node.stopStep }, `shutdown did not finish within ${config.node.shutdown_timeout_ms} ms (still stopping: ${node.stopStep ?? 'nothing'}); exiting`)
      process.exit(1)
    }, config.node.shutdown_timeout_ms)
    timer.unref()
    void node.stop().then(() => process.exit(exitCode))
  }
  process.once('SIGTERM', () => stop('SIGTERM'))
  process.once('SIGINT', () => stop('SIGINT'))
  process.on('SIGHUP', () => {
    try {
      node.reload(configFromFlags(flags))
    } catch (e) {
      node.log.error({ err: describe(e) }, `configuration reload failed, keeping the running configuration: ${messageOf(e)}`)
    }
  })
  // Once, before anything else is logged: what this configuration asks for and does not get.
  for (const k of off) node.log.warn({ key: k.path, status: k.status }, notInEffectLine(k))
  try {
    await node.start()
  } catch (e) {
    printConfigError(e)
    return 1
  }
  // Keep running; the signal handlers end the process.
  return await new Promise<number>(() => {})
}
