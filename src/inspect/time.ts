/**
 * The time checks of a token's claims against a clock, as the gateway (python-jose) makes them: `nbf` after
 * now → "The token is not yet valid (nbf)", `exp` before now → "Signature has expired.", no leeway. Shared by
 * preflight and by `inspectToken` given a clock.
 */
import type { Problem } from '../types.js'
import { tokenProblem, warning } from './inspect.js'
import { JOSE_REASONS } from './messages.js'
import { pyInt } from './python.js'

/**
 * Append the time problems of `claims` at `now` (epoch seconds; `nowMs` the same instant in ms): errors the
 * gateway would refuse for, and warnings for a leeway (clock skew) or a request timeout that the token would not survive.
 */
export function timeProblems(claims: Record<string, unknown>, now: number, nowMs: number, leeway: number, requestTimeoutMs: number | undefined, found: Problem[]): void {
  if (Object.hasOwn(claims, 'nbf')) {
    const nbf = pyInt(claims.nbf)
    if (nbf.ok && nbf.value > now) {
      found.push(
        tokenProblem('NOT_YET_VALID', {
          message: `The token is not valid yet: "nbf" is ${isoOf(nbf.value)}, ${nbf.value - now} s after this host's clock. The gateway allows no leeway.`,
          fix: 'Check the clocks of this host, the issuer and the gateway (NTP). GitLab sets nbf 5 s in the past to absorb small skew.',
          reason: JOSE_REASONS.notYetValid,
          claim: 'nbf',
        }),
      )
    } else if (nbf.ok && leeway > 0 && nbf.value > now - leeway) {
      found.push(
        warning('NBF_CLOCK_SKEW', {
          message: `"nbf" is only ${now - nbf.value} s in the past: a gateway whose clock is up to ${leeway} s behind this host's would refuse the token ("The token is not yet valid (nbf)").`,
          fix: 'Issue tokens with nbf a few seconds in the past (GitLab uses 5 s) and keep clocks in sync.',
          claim: 'nbf',
        }),
      )
    }
  }
  if (Object.hasOwn(claims, 'exp')) {
    const exp = pyInt(claims.exp)
    if (!exp.ok) return
    if (exp.value < now) {
      found.push(
        tokenProblem('EXPIRED', {
          message: `The token expired at ${isoOf(exp.value)}, ${now - exp.value} s ago by this host's clock.`,
          fix: 'Use a fresh token (self-issued tokens live one hour and the issuer refreshes them before expiry; a synced token is refreshed hourly by GitLab). If it should still be valid, check this host\'s clock.',
          reason: JOSE_REASONS.expired,
          claim: 'exp',
        }),
      )
      return
    }
    if (leeway > 0 && exp.value < now + leeway) {
      found.push(
        warning('EXPIRES_WITHIN_LEEWAY', {
          message: `The token expires in ${exp.value - now} s: a gateway whose clock is up to ${leeway} s ahead would refuse it as expired.`,
          fix: 'Refresh tokens before they get this close to expiry (the issuer\'s cache does so by default).',
          claim: 'exp',
        }),
      )
    }
    if (requestTimeoutMs !== undefined && requestTimeoutMs > 0 && exp.value < Math.floor((nowMs + requestTimeoutMs) / 1000)) {
      found.push(
        warning('EXPIRES_DURING_REQUEST', {
          message: `The token expires in ${exp.value - now} s, before the request's ${Math.round(requestTimeoutMs / 1000)} s timeout ends: a retry within that time would be refused.`,
          fix: 'Refresh the token before sending long requests (or shorten the timeout).',
          claim: 'exp',
        }),
      )
    }
  }
}

function isoOf(seconds: number): string {
  const d = new Date(seconds * 1000)
  return Number.isNaN(d.getTime()) ? String(seconds) : d.toISOString()
}
