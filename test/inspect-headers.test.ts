import { describe, expect, it } from 'vitest'
import { GATEWAY_AUTH_HEADERS, getHeader, headersToMap, parseAuthorization } from '../src/inspect/headers.js'

describe('headersToMap: the headers as the gateway reads them', () => {
  it('names in any case, values stripped of spaces and tabs, the last repeated name winning, null and undefined skipped', () => {
    const h = headersToMap({ 'X-Gitlab-Realm': ' saas\t', 'x-gitlab-realm': 'self-managed', Accept: undefined, 'X-Empty': null, 'X-Number': 42 } as never)
    expect([...h]).toEqual([
      ['x-gitlab-realm', 'self-managed'],
      ['x-number', '42'],
    ])
  })

  it('reads a record, a Headers object, entries and array values (one header line per value: the last kept)', () => {
    expect([...headersToMap({ Authorization: ['Bearer a', 'Bearer b'] } as never)]).toEqual([['authorization', 'Bearer b']])
    expect([...headersToMap(new Headers({ 'X-A': '1' }))]).toEqual([['x-a', '1']])
    expect([...headersToMap([['X-A', '1'], ['x-a', '2'], ['bad']] as never)]).toEqual([['x-a', '2']])
    expect(getHeader({ 'X-Gitlab-Realm': 'saas' }, 'x-GITLAB-realm')).toBe('saas')
  })

  it("with the gateway's set, keeps exactly its five headers in any case, and no header whose name only has their length", () => {
    const headers = {
      AUTHORIZATION: 'Bearer t',
      'X-GitLab-Authentication-Type': 'oidc',
      'x-gitlab-realm': 'saas',
      'X-Gitlab-Instance-Id': 'i',
      'X-Gitlab-Global-User-Id': 'u',
      // the same lengths as kept names (13, 14, 20, 23, 28), other names
      authorizatiom: 'x',
      'x-gitlab-realn': 'x',
      'x-gitlab-is-team-member': 'true',
      'x-gitlab-host-name-xx': 'x',
      'x-gitlab-authentication-typ': 'x',
      'content-type': 'application/json',
      'x-gitlab-authentication-type-': 'x',
    }
    expect(Object.fromEntries(headersToMap(headers, GATEWAY_AUTH_HEADERS))).toEqual({
      authorization: 'Bearer t',
      'x-gitlab-authentication-type': 'oidc',
      'x-gitlab-realm': 'saas',
      'x-gitlab-instance-id': 'i',
      'x-gitlab-global-user-id': 'u',
    })
    // any other set filters by its names only
    expect([...headersToMap(headers, new Set(['content-type', 'x-gitlab-is-team-member']))]).toEqual([
      ['x-gitlab-is-team-member', 'true'],
      ['content-type', 'application/json'],
    ])
  })

  it('a hostile getter keeps what was read before it', () => {
    const h = { 'X-Gitlab-Realm': 'saas' }
    Object.defineProperty(h, 'Authorization', { enumerable: true, get: () => { throw new Error('no') } })
    expect([...headersToMap(h)]).toEqual([['x-gitlab-realm', 'saas']])
  })
})

describe('parseAuthorization: value.partition(" ")', () => {
  it('splits at the first space only', () => {
    expect(parseAuthorization('Bearer a b')).toEqual({ scheme: 'Bearer', token: 'a b', hasSeparator: true })
    expect(parseAuthorization('Bearer')).toEqual({ scheme: 'Bearer', token: '', hasSeparator: false })
    expect(parseAuthorization('Bearer ')).toEqual({ scheme: 'Bearer', token: '', hasSeparator: true })
  })
})
