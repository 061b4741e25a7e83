import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { HeaderError } from '../src/errors.js'
import { buildGatewayHeaders, computeGlobalUserId, type GatewayHeadersContext } from '../src/headers.js'

const INSTANCE_ID = '3f2a9d4e-1b7c-4e8f-9a6d-2c5b8e1f0a34'
const instance = { id: INSTANCE_ID, hostName: 'gitlab.example.com', version: '18.5.4', realm: 'self-managed' as const }

function headerError(fn: () => unknown): HeaderError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(HeaderError)
    return e as HeaderError
  }
  throw new Error('expected a HeaderError')
}

describe('buildGatewayHeaders', () => {
  it('builds the instance header set Rails sends, lower-case, without Authorization', () => {
    expect(buildGatewayHeaders({ instance })).toEqual({
      'x-gitlab-authentication-type': 'oidc',
      'content-type': 'application/json',
      'x-gitlab-host-name': 'gitlab.example.com',
      'x-gitlab-instance-id': INSTANCE_ID,
      'x-gitlab-realm': 'self-managed',
      'x-gitlab-deployment-type': 'self-managed',
      'x-gitlab-version': '18.5.4',
      'x-gitlab-feature-enabled-by-namespace-ids': '',
      // always sent: user&.user_type.to_s, '' without a user (flyisland/gitlab-ee ee/lib/cloud_connector.rb @ 063f90c1)
      'x-gitlab-subject-type': '',
      'x-gitlab-feature-enablement-type': '',
      'x-gitlab-enabled-feature-flags': '',
      'x-gitlab-enabled-instance-verbose-ai-logs': '',
      'x-gitlab-is-team-member': 'false',
    })
  })

  it('adds the user, the feature context and the request id in the formats Rails uses', () => {
    const headers = buildGatewayHeaders({
      instance: { ...instance, realm: 'saas' },
      user: { id: 42, salt: 's3cr3t-salt', subjectType: 'human' },
      feature: {
        enablementType: 'duo_enterprise',
        namespaceIds: [9970, '22'],
        featureFlags: ['expanded_ai_logging', 'ai_custom_model', 'expanded_ai_logging'],
        verboseAiLogs: true,
        teamMember: true,
        namespaceId: 101,
        rootNamespaceId: 9970,
        organizationId: 1,
        projectId: '278964',
      },
      requestId: '01JZ8W4D2X5Q',
      extra: { 'X-Gitlab-Client-Type': 'vscode', 'x-gitlab-language-server-version': '7.30.0' },
    })
    expect(headers).toEqual({
      'x-gitlab-authentication-type': 'oidc',
      'content-type': 'application/json',
      'x-request-id': '01JZ8W4D2X5Q',
      'x-gitlab-host-name': 'gitlab.example.com',
      'x-gitlab-instance-id': INSTANCE_ID,
      'x-gitlab-realm': 'saas',
      'x-gitlab-deployment-type': '.com',
      'x-gitlab-version': '18.5.4',
      'x-gitlab-global-user-id': 'NDZFShaB270wZ4/tG72mT2tAFPSx7/2Our4MjOGTNN4=',
      'x-gitlab-user-id': '42',
      'x-gitlab-feature-enabled-by-namespace-ids': '9970,22',
      'x-gitlab-subject-type': 'human',
      'x-gitlab-feature-enablement-type': 'duo_enterprise',
      'x-gitlab-enabled-feature-flags': 'expanded_ai_logging,ai_custom_model',
      'x-gitlab-enabled-instance-verbose-ai-logs': 'true',
      'x-gitlab-is-team-member': 'true',
      'x-gitlab-namespace-id': '101',
      'x-gitlab-root-namespace-id': '9970',
      'x-gitlab-organization-id': '1',
      'x-gitlab-project-id': '278964',
      'x-gitlab-client-type': 'vscode',
      'x-gitlab-language-server-version': '7.30.0',
    })
    expect(buildGatewayHeaders({ instance, feature: { verboseAiLogs: false } })['x-gitlab-enabled-instance-verbose-ai-logs']).toBe('false')
    expect(buildGatewayHeaders({ instance: { ...instance, deploymentType: 'dedicated' } })['x-gitlab-deployment-type']).toBe('dedicated')
    // Rails sends x-gitlab-namespace-id = the billable namespace when no specific one is known
    expect(buildGatewayHeaders({ instance, feature: { rootNamespaceId: 7 } })['x-gitlab-namespace-id']).toBe('7')
  })

  // CloudConnector.ai_headers: 'x-gitlab-subject-type' => user&.user_type.to_s (ee/lib/cloud_connector.rb @ 063f90c1;
  // ee/spec/lib/gitlab/duo_workflow/client_spec.rb expects 'human' for an ordinary user)
  it('always sends x-gitlab-subject-type: the user type, human by default, empty without a user', () => {
    expect(buildGatewayHeaders({ instance })['x-gitlab-subject-type']).toBe('')
    expect(buildGatewayHeaders({ instance, user: { id: 1, salt: 's' } })['x-gitlab-subject-type']).toBe('human')
    expect(buildGatewayHeaders({ instance, user: { id: 1, salt: 's', subjectType: 'service_account' } })['x-gitlab-subject-type']).toBe('service_account')
  })

  it('uses a given global user id as is', () => {
    const h = buildGatewayHeaders({ instance, user: { id: '7', globalUserId: 'abc+/=' } })
    expect(h['x-gitlab-global-user-id']).toBe('abc+/=')
    expect(h['x-gitlab-user-id']).toBe('7')
  })

  it('returns a fresh object every call', () => {
    const ctx: GatewayHeadersContext = { instance }
    const a = buildGatewayHeaders(ctx)
    a['x-gitlab-realm'] = 'saas'
    a['authorization'] = 'Bearer x'
    const b = buildGatewayHeaders(ctx)
    expect(b).not.toBe(a)
    expect(b['x-gitlab-realm']).toBe('self-managed')
    expect(b).not.toHaveProperty('authorization')
  })

  it('refuses values with CR/LF, control or non-ASCII characters, naming the header', () => {
    const crlf = headerError(() => buildGatewayHeaders({ instance: { ...instance, hostName: 'gitlab.example.com\r\nX-Evil: 1' } }))
    expect(crlf.code).toBe('ERR_INVALID_HEADER')
    expect(crlf.header).toBe('x-gitlab-host-name')
    expect(crlf.message).toBe(
      'x-gitlab-host-name: contains a line break (U+000D) at position 18; header values must be printable ASCII. Remove it from the configured value.',
    )
    expect(headerError(() => buildGatewayHeaders({ instance: { ...instance, version: '18.5\u0000' } })).message).toBe(
      'x-gitlab-version: contains a control character (U+0000) at position 4; header values must be printable ASCII. Remove it from the configured value.',
    )
    expect(headerError(() => buildGatewayHeaders({ instance: { ...instance, id: 'ünïcode' } })).header).toBe('x-gitlab-instance-id')
    expect(headerError(() => buildGatewayHeaders({ instance, requestId: 'a\tb' })).header).toBe('x-request-id')
    expect(headerError(() => buildGatewayHeaders({ instance, feature: { enablementType: 'duo\npro' } })).header).toBe(
      'x-gitlab-feature-enablement-type',
    )
    expect(headerError(() => buildGatewayHeaders({ instance, extra: { 'x-gitlab-client-name': 'a\nb' } })).header).toBe('x-gitlab-client-name')
  })

  it('refuses blanks at the ends (fetch would trim them, so the gateway would compare another value)', () => {
    const e = headerError(() => buildGatewayHeaders({ instance: { ...instance, id: ` ${INSTANCE_ID}` } }))
    expect(e.header).toBe('x-gitlab-instance-id')
    expect(e.message).toBe(
      'x-gitlab-instance-id: has leading or trailing spaces, which HTTP strips in transit, so the gateway would see a different value. Trim it.',
    )
    expect(headerError(() => buildGatewayHeaders({ instance: { ...instance, id: '' } })).message).toBe(
      'x-gitlab-instance-id: the value is empty; the gateway would treat the header as missing.',
    )
  })

  it('requires numeric ids where the gateway parses integers', () => {
    const e = headerError(() => buildGatewayHeaders({ instance, user: { id: 'root', salt: 's' } }))
    expect(e.header).toBe('x-gitlab-user-id')
    expect(e.message).toBe('x-gitlab-user-id: must be a non-negative integer id (the gateway parses it as one); got "root".')
    expect(headerError(() => buildGatewayHeaders({ instance, user: { id: -1, salt: 's' } })).header).toBe('x-gitlab-user-id')
    expect(headerError(() => buildGatewayHeaders({ instance, user: { id: 1.5, salt: 's' } })).header).toBe('x-gitlab-user-id')
    expect(headerError(() => buildGatewayHeaders({ instance, feature: { namespaceIds: [1, '2,3'] } })).header).toBe(
      'x-gitlab-feature-enabled-by-namespace-ids',
    )
    expect(headerError(() => buildGatewayHeaders({ instance, feature: { projectId: '12a' } })).header).toBe('x-gitlab-project-id')
    expect(headerError(() => buildGatewayHeaders({ instance, feature: { namespaceId: 3 } })).message).toBe(
      'x-gitlab-namespace-id: GitLab sends it only together with x-gitlab-root-namespace-id; pass feature.rootNamespaceId as well.',
    )
  })

  it('rejects a bad realm, deployment type, feature flag, a user without a way to get the global id, and overrides', () => {
    expect(headerError(() => buildGatewayHeaders({ instance: { ...instance, realm: 'dedicated' as never } })).message).toBe(
      'x-gitlab-realm: must be "saas" or "self-managed" (Dedicated counts as self-managed); got "dedicated".',
    )
    expect(headerError(() => buildGatewayHeaders({ instance: { ...instance, deploymentType: 'com' as never } })).header).toBe(
      'x-gitlab-deployment-type',
    )
    expect(headerError(() => buildGatewayHeaders({ instance, feature: { featureFlags: ['a,b'] } })).header).toBe('x-gitlab-enabled-feature-flags')
    expect(headerError(() => buildGatewayHeaders({ instance, user: { id: 1 } })).message).toBe(
      'x-gitlab-global-user-id: a user was given without globalUserId or salt. Pass user.globalUserId (what GitLab computed) or user.salt (the instance secret salt) so the SDK can compute it.',
    )
    expect(headerError(() => buildGatewayHeaders({ instance, extra: { Authorization: 'Bearer x' } })).header).toBe('authorization')
    expect(headerError(() => buildGatewayHeaders({ instance, extra: { 'X-Gitlab-Realm': 'saas' } })).header).toBe('x-gitlab-realm')
    expect(headerError(() => buildGatewayHeaders({ instance, extra: { 'bad name': 'v' } })).code).toBe('ERR_INVALID_HEADER')
    expect(headerError(() => buildGatewayHeaders(undefined as never)).header).toBe('x-gitlab-instance-id')
  })
})

describe('computeGlobalUserId', () => {
  it('is standard padded Base64 of SHA-256(instanceId + userId + salt)', () => {
    expect(computeGlobalUserId(INSTANCE_ID, 42, 's3cr3t-salt')).toBe('NDZFShaB270wZ4/tG72mT2tAFPSx7/2Our4MjOGTNN4=')
    expect(computeGlobalUserId(INSTANCE_ID, '42', 's3cr3t-salt')).toBe(
      createHash('sha256').update(`${INSTANCE_ID}42s3cr3t-salt`).digest('base64'),
    )
    expect(computeGlobalUserId('uuid-not-set', 1, 'x')).toMatch(/^[A-Za-z0-9+/]{43}=$/)
  })
})
