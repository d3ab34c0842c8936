import { parseCommandLine, parseFlags } from './cli/args'
import { runAuditVerify } from './cli/audit-verify'
import { runBackup, runVerifyBackup } from './cli/backup-programs'
import { runCli } from './cli/client'
import { runReplayCommitLog } from './cli/incremental-restore'
import { runMigrate } from './cli/migrate-program'
import { runRestore } from './cli/restore-program'
import { systemClock } from './core/clock'
import { helpText, programFor } from './cli/programs'
import { runServer } from './cli/server-main'
import { isScratchBirdError } from './core/errors'
import { versionLine } from './version'

// Entry point of every program name (DESIGN §1): dispatch on the name the binary was invoked
// under (dist/scratchbird_cli → scratchbird_cli) or on a first-argument subcommand.

async function main (): Promise<number> {
  const args = process.argv.slice(2)
  const { program, argsFrom } = programFor(process.argv0, args[0])
  const { positionals } = parseCommandLine(program, args.slice(argsFrom))
  const flags = parseFlags(program, args.slice(argsFrom))
  if (flags.help) { process.stdout.write(helpText(program)); return 0 }
  if (flags.version) { process.stdout.write(versionLine() + '\n'); return 0 }
  switch (program) {
    case 'scratchbird': return await runServer(flags)
    case 'scratchbird_cli': return await runCli(flags)
    case 'scratchbird_audit': return runAuditVerify(flags, positionals)
    case 'scratchbird_backup': return await runBackup(flags)
    case 'scratchbird_verify_backup': return await runVerifyBackup(flags)
    case 'scratchbird_restore': return await runRestore(flags, systemClock)
    case 'scratchbird_migrate': return await runMigrate(flags, systemClock)
    case 'scratchbird_replay_commit_log': return await runReplayCommitLog(flags, systemClock)
    default: {
      // Every program of the table is dispatched above (a new one fails the type check here).
      const unknown: never = program
      process.stderr.write(`${String(unknown)}: not available in this release yet [SB_NOT_IMPLEMENTED]\n`)
      return 69 // EX_UNAVAILABLE
    }
  }
}

main().then(code => { process.exitCode = code }, (e: unknown) => {
  if (isScratchBirdError(e)) {
    process.stderr.write(`${e.message} [${e.code}]\n`)
    process.exitCode = 2
  } else {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`)
    process.exitCode = 70 // EX_SOFTWARE
  }
})
