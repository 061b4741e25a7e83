import { createHash } from 'node:crypto'

/**
 * A safe stand-in for a secret in messages and logs: its length and a short SHA-256 fingerprint,
 * enough to tell two values apart or match a log line to a token, never enough to use it.
 * For a JWT the header segment is kept (it is public and says which key signed it).
 */
export function redact(value: string | undefined | null): string {
  if (value === undefined || value === null) return '<none>'
  if (value.length === 0) return '<empty>'
  const fp = createHash('sha256').update(value).digest('base64url').slice(0, 10)
  const dot = value.indexOf('.')
  if (dot > 0 && dot <= 512 && value.startsWith('eyJ')) {
    return `${value.slice(0, Math.min(dot, 24))}….<redacted ${value.length} chars, sha256:${fp}>`
  }
  return `<redacted ${value.length} chars, sha256:${fp}>`
}

/** A short fingerprint only (for log fields such as `tokenSha`). */
export function fingerprint(value: string): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 10)
}

/**
 * A secret-free label for an error thrown by code we do not own (a signer, a loader): its name and,
 * when it looks like one, its code; never its message, which may quote what it was given.
 */
export function errorLabel(err: unknown): string {
  if (err && typeof err === 'object') {
    const name = (err as { name?: unknown }).name
    const code = (err as { code?: unknown }).code
    const label = typeof name === 'string' ? name : 'Error'
    return typeof code === 'string' && /^[\w.-]{1,64}$/.test(code) ? `${label} ${code}` : label
  }
  return typeof err
}

/**
 * `text` with everything shaped like a token or a key replaced by its `redact()`ed form, wherever it is: JWTs
 * (`eyJ…` in three dot-separated segments), a bare run of base64url long enough to be an RS256 signature,
 * API keys and tokens with a well-known prefix (`sk-`, GitLab's `glpat-`…, GitHub's `ghp_`…, AWS `AKIA`…,
 * Slack `xox?-`, Google `AIza`), PEM private key blocks, and the value after `Bearer`.
 *
 * Linear in the text, which is often hostile (an echo, a request body): tokens are found by one scan of the
 * maximal `[\w.-]` runs, where a pattern such as `eyJ[\w-]{2,}\.[\w-]*\.[\w-]+` backtracks quadratically over
 * a long run without dots ("eyJ" × 20,000 took a second).
 */
export function redactShapes(text: string): string {
  return redactPemBlocks(text)
    .replace(TOKEN_CHARS_RUN, redactTokenShapes)
    // "<" ends the value: a redacted one ("<redacted …>") is left as it is
    .replace(/(bearer\s+)([^\s"',;<]{8,})/gi, (_m, p: string, v: string) => `${p}${redact(v)}`)
}

/** A maximal run of base64url characters and dots (matching it cannot backtrack: each run is read once). */
const TOKEN_CHARS_RUN = /[\w.-]+/g
/** An RS256 signature segment is 342 characters; a run of base64url this long is treated as one. */
const MIN_BARE_SIGNATURE_CHARS = 300
/**
 * A credential with a well-known prefix in a dot-free stretch of `[\w-]`, at its start or after `_`/`-`
 * (`api_key_sk-…`). Only tried on stretches of at most 512 characters, which bounds its backtracking.
 */
const PREFIXED_SECRET = /(?:^|[_-])(?:sk[-_]|gl[a-z]{1,8}-|gh[pousr]_|github_pat_|xox[abprs]-|AKIA|ASIA|AIza)[\w-]{12,}$/

/**
 * In one run of `[\w.-]`: each JWT (`eyJ` + at least two characters, a dot, a segment, a dot, a non-empty
 * segment — the leftmost such match, as the pattern `eyJ[\w-]{2,}\.[\w-]*\.[\w-]+` would find it), each
 * dot-free stretch long enough to be a signature and each prefixed credential is redacted.
 */
function redactTokenShapes(run: string): string {
  if (run.length < 8) return run
  const segments = run.split('.')
  const out: string[] = []
  let i = 0
  while (i < segments.length) {
    const seg = segments[i] as string
    const at = seg.indexOf('eyJ')
    if (at >= 0 && seg.length - at >= 5 && i + 2 < segments.length && (segments[i + 2] as string).length > 0) {
      out.push(`${seg.slice(0, at)}${redact(`${seg.slice(at)}.${segments[i + 1] as string}.${segments[i + 2] as string}`)}`)
      i += 3
    } else {
      out.push(seg.length >= MIN_BARE_SIGNATURE_CHARS || (seg.length >= 16 && seg.length <= 512 && PREFIXED_SECRET.test(seg)) ? redact(seg) : seg)
      i += 1
    }
  }
  return out.join('.')
}

/** Each `-----BEGIN … PRIVATE KEY-----` block, to its END line (or to the end of the text when cut short). */
function redactPemBlocks(text: string): string {
  let at = text.indexOf(PEM_BEGIN)
  if (at < 0) return text
  let out = ''
  let from = 0
  while (at >= 0) {
    const labelEnd = text.indexOf('-----', at + PEM_BEGIN.length)
    if (labelEnd < 0) break
    const label = text.slice(at + PEM_BEGIN.length, labelEnd)
    if (label.length <= 40 && label.endsWith('PRIVATE KEY')) {
      const endLine = `-----END ${label}-----`
      const end = text.indexOf(endLine, labelEnd)
      const stop = end < 0 ? text.length : end + endLine.length
      out += `${text.slice(from, at)}${redact(text.slice(at, stop))}`
      from = stop
      at = text.indexOf(PEM_BEGIN, stop)
    } else {
      at = text.indexOf(PEM_BEGIN, labelEnd)
    }
  }
  return out + text.slice(from)
}

const PEM_BEGIN = '-----BEGIN '
