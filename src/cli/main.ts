import { echo, UsageError } from './args.js'
import { EXIT, explain, type Explanation } from './explain.js'
import { type CliIo, printJson, styleFor, visible } from './io.js'
import { keygen, jwks } from './commands/keys.js'
import { mint, inspect, verify } from './commands/tokens.js'
import { checkModel, serve } from './commands/gateway.js'

export type { CliIo } from './io.js'
export { EXIT } from './explain.js'

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

/**
 * Run the CLI. Exit codes: 0 success or "would be accepted", 1 a refusal or failed check (or a file/key the
 * user must fix), 2 a usage error, 3 an unexpected failure (a bug). A failure is one line on stderr (with
 * --json: one JSON document on stdout); --verbose adds details, --debug the stack trace.
 */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(overview())
    return name === undefined ? EXIT.usage : EXIT.ok
  }
  if (name === '--version' || name === '-v') {
    io.stdout.write(`${VERSION}\n`)
    return EXIT.ok
  }
  const flags = globalFlags(rest)
  // own names only: "constructor" or "valueOf" must not find Object.prototype's members
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined
  if (!command) {
    return report('cloud-connector', new UsageError(`unknown command '${echo(name)}'. Commands: ${Object.keys(COMMANDS).join(', ')}.`), io, flags)
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(`${command.summary}\n\nUsage: ${command.usage}\n`)
    return EXIT.ok
  }
  try {
    return await command.run(rest, io)
  } catch (err) {
    return report(name, err, io, flags)
  }
}

const CLI_CODES = new Set(['ERR_USAGE', 'ERR_CLI', 'ERR_UNEXPECTED'])

interface GlobalFlags {
  json: boolean
  verbose: boolean
  debug: boolean
}

/** The flags that shape error output, read before parsing (a usage error must honour them too); `--` ends them. */
function globalFlags(argv: string[]): GlobalFlags {
  const end = argv.indexOf('--')
  const own = end === -1 ? argv : argv.slice(0, end)
  return { json: own.includes('--json'), verbose: own.includes('--verbose'), debug: own.includes('--debug') }
}

/** Print a failure: one line on stderr, or one JSON document on stdout with --json. Returns the exit code. */
function report(command: string, err: unknown, io: CliIo, flags: GlobalFlags): number {
  const e: Explanation = explain(err, { command })
  const text = e.fix === undefined ? e.line : `${e.line}; ${e.fix}`
  // the library's code, to search for; the CLI's own (usage, unexpected) need none
  const message = /^ERR_/.test(e.code) && !CLI_CODES.has(e.code) && !text.includes(`[${e.code}]`) ? `${text} [${e.code}]` : text
  if (flags.json) {
    printJson(io, {
      ok: false,
      command,
      code: e.code,
      message: e.line,
      ...(e.fix === undefined ? {} : { fix: e.fix }),
      ...(e.status === undefined ? {} : { status: e.status }),
      findings: e.findings,
      ...(flags.verbose ? { details: e.details } : {}),
    })
  } else {
    const style = styleFor(io.stderr, io.env)
    io.stderr.write(`${style.red('error')}: ${command}: ${message}\n`)
    if (flags.verbose) for (const d of e.details) io.stderr.write(`  ${d}\n`)
  }
  // a stack keeps its lines; anything else in it that could drive the terminal is made visible
  if (flags.debug && err instanceof Error && err.stack) io.stderr.write(`${err.stack.split('\n').map(visible).join('\n')}\n`)
  return e.exitCode
}

export const VERSION = '0.1.0'

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
    'Every command takes --json (machine output, errors included), --verbose (error details and the SDK\'s log lines on stderr),',
    '--help and --debug (stack traces). DEBUG=cloud-connector prints the log lines too.',
    'Exit codes: 0 success / would be accepted, 1 refused or failed, 2 usage error, 3 unexpected failure (a bug).',
    '',
  ].join('\n')
}
