/**
 * Running the CLI in-process for tests: captured stdout/stderr, a scripted stdin, an environment, TTY or not.
 */
import { Readable } from 'node:stream'
import { main } from '../src/cli/main.js'
import type { CliIo } from '../src/cli/io.js'

export const KEY_FILE = new URL('./fixtures/instance-key.pem', import.meta.url).pathname
export const SECOND_KEY_FILE = new URL('./fixtures/second-key.pem', import.meta.url).pathname

export interface CliRun {
  code: number
  stdout: string
  stderr: string
}

export interface CliRunOptions {
  /** Text on standard input (piped); without it stdin is an empty TTY. */
  stdin?: string
  env?: NodeJS.ProcessEnv
  /** stdout and stderr are TTYs (colour, progress lines). */
  tty?: boolean
  /** What `serve` waits for; default: an immediate SIGTERM. */
  untilSignal?: () => Promise<string>
  /** Replace stdout's write (e.g. one that throws). */
  stdoutWrite?: (s: string) => unknown
  /** The working directory (relative paths, ./cloud-connector.json). */
  cwd?: string
}

export async function runCli(argv: string[], opts: CliRunOptions = {}): Promise<CliRun> {
  let stdout = ''
  let stderr = ''
  const stdin = Readable.from(opts.stdin === undefined ? [] : [Buffer.from(opts.stdin)]) as unknown as CliIo['stdin']
  ;(stdin as { isTTY?: boolean }).isTTY = opts.stdin === undefined
  const io: CliIo = {
    stdout: { write: opts.stdoutWrite ?? ((s: string) => (stdout += s)), isTTY: opts.tty ?? false },
    stderr: { write: (s: string) => (stderr += s), isTTY: opts.tty ?? false },
    stdin,
    env: opts.env ?? {},
    ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
    untilSignal: opts.untilSignal ?? (() => Promise.resolve('SIGTERM')),
  }
  const code = await main(argv, io)
  return { code, stdout, stderr }
}

/** stdout parsed as exactly one JSON document (JSON.parse throws on anything else). */
export function oneJson<T = Record<string, unknown>>(r: CliRun): T {
  return JSON.parse(r.stdout) as T
}
