import { CloudConnectorError } from './sdk.js'
import { CliFailure, echo, UsageError } from './args.js'
import { type CliIo, styleFor } from './io.js'
import { keygen, jwks } from './commands/keys.js'
import { mint, inspect, verify } from './commands/tokens.js'
import { checkModel, serve } from './commands/gateway.js'

export type { CliIo } from './io.js'

/** A command: parses its own argv, writes to io, returns the exit code. */
export interface Command {
  summary: string
  usage: string
  run(argv: string[], io: CliIo): Promise<number>
}

export const COMMANDS: Record<string, Command> = {
  keygen,
  jwks,
  mint,
  inspect,
  verify,
  'check-model': checkModel,
  serve,
}

export const EXIT = { ok: 0, refused: 1, usage: 2 } as const

/**
 * Run the CLI. Exit codes: 0 success or "would be accepted", 1 a refusal or failed check
 * (or a file/key the user must fix), 2 a usage error. Never a stack trace unless --debug.
 */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const debug = argv.includes('--debug')
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(overview())
    return name === undefined ? EXIT.usage : EXIT.ok
  }
  if (name === '--version' || name === '-v') {
    io.stdout.write(`${VERSION}\n`)
    return EXIT.ok
  }
  // own names only: "constructor" or "valueOf" must not find Object.prototype's members
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined
  if (!command) {
    io.stderr.write(`cloud-connector: unknown command '${oneLine(echo(name))}'. Commands: ${Object.keys(COMMANDS).join(', ')}.\n`)
    return EXIT.usage
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(`${command.summary}\n\nUsage: ${command.usage}\n`)
    return EXIT.ok
  }
  try {
    return await command.run(rest, io)
  } catch (err) {
    const style = styleFor(io.stderr, io.env)
    if (err instanceof UsageError) {
      io.stderr.write(`${style.red('error')}: ${oneLine(err.message)}\n`)
      return EXIT.usage
    }
    const line =
      err instanceof CliFailure
        ? err.message
        : err instanceof CloudConnectorError
          ? `${err.message} [${err.code}]`
          : `unexpected failure: ${err instanceof Error ? err.message : String(err)}`
    io.stderr.write(`${style.red('error')}: ${name}: ${oneLine(line)}\n`)
    if (debug && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`)
    return err instanceof CliFailure ? err.exitCode : EXIT.refused
  }
}

export const VERSION = '0.1.0'

/**
 * Messages echo what the user typed (an unknown flag, a file name): control characters are shown
 * escaped, so that an error stays on one line and cannot drive the terminal (ANSI escapes).
 */
function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) =>
    c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}

function overview(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length))
  const lines = Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(width)}  ${c.summary}`)
  return [
    'cloud-connector — mint, inspect and verify GitLab Cloud Connector tokens for the AI Gateway',
    '',
    'Usage: cloud-connector <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Every command takes --json (machine output), --help and --debug (stack traces).',
    'Exit codes: 0 success / would be accepted, 1 refused or failed, 2 usage error.',
    '',
  ].join('\n')
}
