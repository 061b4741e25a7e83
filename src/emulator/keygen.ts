import { generateKeyPair } from 'node:crypto'
import { loadSigningKeySync } from '../keys/import.js'
import type { SigningKey } from '../types.js'

/** A fresh RSA-2048 key, generated on libuv's thread pool so a server's event loop keeps answering. */
export function generateSigningKeyAsync(): Promise<SigningKey> {
  return new Promise((resolve, reject) => {
    generateKeyPair('rsa', { modulusLength: 2048, publicExponent: 0x10001 }, (err, _pub, priv) => {
      if (err) reject(err)
      else resolve(loadSigningKeySync(priv))
    })
  })
}
