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
