import { readFile } from 'node:fs/promises'
import { CliFailure } from './args.js'
import { debugEnabled, lineLogger, type Logger } from '../log.js'
import { visible } from '../visible.js'

export { visible }

/** What a command may touch: injected so the CLI runs in-process in tests. */
export interface CliIo {
  stdout: { write(chunk: string): unknown; isTTY?: boolean }
  stderr: { write(chunk: string): unknown; isTTY?: boolean }
  stdin: NodeJS.ReadableStream & { isTTY?: boolean }
  env: NodeJS.ProcessEnv
  /** Where relative paths start and `cloud-connector.json` is looked for; default `process.cwd()`. */
  cwd?: string
  /** Resolves when the user asks the process to stop (SIGINT/SIGTERM); `serve` waits on it. */
  untilSignal?: () => Promise<string>
}

export interface Style {
  bold(s: string): string
  red(s: string): string
  green(s: string): string
  yellow(s: string): string
  dim(s: string): string
}

/** Colour only on a TTY, and never when NO_COLOR is set. */
export function styleFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): Style {
  const on = stream.isTTY === true && !env.NO_COLOR && env.TERM !== 'dumb'
  const wrap = (open: number, close: number) => (s: string) => (on ? `\u001b[${open}m${s}\u001b[${close}m` : s)
  return { bold: wrap(1, 22), red: wrap(31, 39), green: wrap(32, 39), yellow: wrap(33, 39), dim: wrap(2, 22) }
}

/**
 * One JSON document on stdout. JSON.stringify escapes C0 controls but not DEL, C1 (an 8-bit CSI is one),
 * line separators or bidirectional controls: those are escaped too (they occur only inside strings).
 */
export function printJson(io: CliIo, value: unknown): void {
  const text = JSON.stringify(value, null, 2).replace(JSON_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  io.stdout.write(`${text}\n`)
}
const JSON_UNSAFE = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

/**
 * A URL as the CLI prints it: without userinfo (user:password@) and without query values or fragment, which
 * may hold credentials (`?key=…`). A value that is not a URL is returned as is (callers echo it shortened).
 */
export function shownUrl(value: string): string {
  let u: URL
  try {
    u = new URL(value)
  } catch {
    return value
  }
  const names = [...new Set(u.searchParams.keys())]
  const query = names.length === 0 ? (u.search === '' ? '' : '?…') : `?${names.map((n) => `${encodeURIComponent(n)}=…`).join('&')}`
  return `${u.protocol}//${u.host}${u.pathname === '/' && !value.replace(/[?#].*$/, '').endsWith('/') ? '' : u.pathname}${query}`
}

/**
 * A file path the user gave, as messages show it: whole (the point of the message) unless it does not look like a
 * path but like a secret given in the wrong place — a JWT, a PEM, a long unbroken value — which is shortened
 * like any misplaced argument.
 */
export function shownPath(path: string): string {
  const secretLike = path.length > 255 || /^eyJ[\w-]*\.[\w-]*\./.test(path) || /-----BEGIN|[\r\n]/.test(path) || /^[\w-]{40,}$/.test(path)
  return visible(secretLike ? `${path.split(/[\r\n]/, 1)[0]?.slice(0, 12) ?? ''}…` : path)
}

/** At most `max` characters (an ellipsis marks the cut). */
export function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

type LogMethod = (obj: Record<string, unknown>, msg?: string) => void

/**
 * The logger a command gives the SDK: the command's own handlers of some events (a warning to show, a retry to
 * say), and with `--verbose` (or `DEBUG=cloud-connector`) every event the SDK logs as one line on stderr.
 */
export function cliLogger(io: CliIo, verbose: boolean, own: { [L in keyof Logger]?: LogMethod } = {}): Logger | undefined {
  const lines = verbose || debugEnabled(io.env) ? lineLogger((line) => io.stderr.write(line)) : undefined
  if (lines === undefined && Object.keys(own).length === 0) return undefined
  const logger: Logger = {}
  for (const level of ['debug', 'info', 'warn', 'error'] as const) {
    const handle = own[level]
    if (handle === undefined && lines === undefined) continue
    logger[level] = (obj, msg) => {
      handle?.(obj, msg)
      lines?.[level]?.(obj, msg)
    }
  }
  return logger
}

/** A warning for a person, on stderr: one line, `warning: `, untrusted text made visible. Stdout (and --json) stays clean. */
export function warn(io: CliIo, text: string): void {
  const style = styleFor(io.stderr, io.env)
  io.stderr.write(`${style.yellow('warning')}: ${visible(text.replace(/\s+/g, ' ').trim())}\n`)
}

export interface Progress {
  /** Wait for `work`; if it takes longer than a second, say on stderr what is awaited until it settles. */
  waitFor<T>(what: string, work: Promise<T>): Promise<T>
  /** Replace what the current wait says (a retry, a next step). */
  update(what: string): void
}

/**
 * What a long wait is waiting for (discovery, a slow gateway, retries): one line on stderr after a second,
 * rewritten in place and cleared when the wait ends. Only on a TTY and never with --json: a script or a pipe
 * gets nothing extra.
 */
export function progress(io: CliIo, json: boolean): Progress {
  const on = io.stderr.isTTY === true && !json
  let current: string | undefined
  let shown = false
  const draw = () => {
    if (current === undefined) return
    io.stderr.write(`\r\u001b[2K${styleFor(io.stderr, io.env).dim(`… ${visible(current)}`)}`)
    shown = true
  }
  return {
    async waitFor(what, work) {
      if (!on) return work
      current = what
      const timer = setTimeout(draw, 1000)
      try {
        return await work
      } finally {
        clearTimeout(timer)
        if (shown) io.stderr.write('\r\u001b[2K')
        current = undefined
        shown = false
      }
    },
    update(what) {
      if (!on || current === undefined) return
      current = what
      if (shown) draw()
    },
  }
}

/** Read a file the user named, turning fs errors into one-line messages. */
export async function readUserFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (code ?? 'unreadable')
    throw new CliFailure(`cannot read ${what} '${shownPath(path)}': ${why}.`)
  }
}

/** The token argument: a value, '-' for stdin, or stdin when absent and piped. */
export async function readTokenArg(io: CliIo, arg: string | undefined): Promise<string> {
  if (arg !== undefined && arg !== '-') return arg
  if (arg === undefined && io.stdin.isTTY) return ''
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of io.stdin) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer)
    size += b.length
    // Read a little past the 64 KiB limit so oversize values are still reported as oversize.
    if (size > 1024 * 1024) throw new CliFailure('the token on standard input is larger than 1 MiB; a gateway token is a few KiB.')
    chunks.push(b)
  }
  // A trailing newline from `echo` or a file is not part of the token.
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
}
