/**
 * The libraries a user would pick instead of the SDK, set up as their documentation recommends for
 * RS256 with the fixture key, each told to check what the gateway checks (algorithm RS256, the audience,
 * and the time claims, which they check by default). Their versions come from their installed
 * package.json, so the table names what was measured. jose is the SDK's own dependency; fast-jwt and
 * jsonwebtoken are dev dependencies of the bench only.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createDecoder, createSigner, createVerifier } from 'fast-jwt'
import * as jose from 'jose'
import jsonwebtoken from 'jsonwebtoken'
import type { SigningKey } from '../src/index.js'

const require = createRequire(import.meta.url)

function versionOf(name: string): string {
  const path = require.resolve(`${name}/package.json`)
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version
}

export const PEER_VERSIONS = { 'fast-jwt': versionOf('fast-jwt'), jsonwebtoken: versionOf('jsonwebtoken'), jose: versionOf('jose') } as const
export type PeerName = keyof typeof PEER_VERSIONS

/** "fast-jwt 6.3.6": how a peer is named in labels. */
export function peerLabel(name: PeerName): string {
  return `${name} ${PEER_VERSIONS[name]}`
}

export interface Peers {
  /** Sign these claims with RS256 and the fixture key (header with typ and kid). */
  sign: Record<PeerName, (claims: Record<string, unknown>) => string | Promise<string>>
  /** Verify the signature, alg RS256, the audience and the time claims; throws on a bad token. */
  verify: Record<PeerName, (token: string) => unknown>
  /** Decode header and payload without verifying. */
  decode: Record<PeerName, (token: string) => unknown>
}

export function makePeers(key: SigningKey, audience: string): Peers {
  const privateKey = key.privateKey
  if (privateKey === undefined) throw new Error('bench: the fixture key has no private half')
  const publicKey = key.publicKey
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const kid = key.kid

  // fast-jwt takes PEM text and imports it once per signer/verifier; cache: false is its default, said here.
  const fastSign = createSigner({ key: privatePem, algorithm: 'RS256', kid })
  const fastVerify = createVerifier({ key: publicPem, algorithms: ['RS256'], allowedAud: audience, cache: false })
  const fastDecode = createDecoder({ complete: true })
  const joseHeader = { alg: 'RS256', typ: 'JWT', kid }

  return {
    sign: {
      'fast-jwt': (claims) => fastSign(claims),
      jsonwebtoken: (claims) => jsonwebtoken.sign(claims, privateKey, { algorithm: 'RS256', keyid: kid }),
      jose: (claims) => new jose.SignJWT(claims).setProtectedHeader(joseHeader).sign(privateKey),
    },
    verify: {
      'fast-jwt': (token) => fastVerify(token),
      jsonwebtoken: (token) => jsonwebtoken.verify(token, publicKey, { algorithms: ['RS256'], audience }),
      jose: (token) => jose.jwtVerify(token, publicKey, { algorithms: ['RS256'], audience }),
    },
    decode: {
      'fast-jwt': (token) => fastDecode(token),
      jsonwebtoken: (token) => jsonwebtoken.decode(token, { complete: true }),
      jose: (token) => [jose.decodeProtectedHeader(token), jose.decodeJwt(token)],
    },
  }
}
