import { chmod, writeFile } from 'node:fs/promises'
import { CloudConnectorError, generateSigningKeyPem, loadSigningKeySync, toJwks, type SigningKey } from '../sdk.js'
import { CliFailure, flag, list, parse, str, UsageError } from '../args.js'
import { printJson, readUserFile, shownPath, styleFor, visible } from '../io.js'
import type { Command } from '../main.js'

export const keygen: Command = {
  summary: 'Generate an RSA-2048 signing key as PKCS#1 PEM, as GitLab generates cloud_connector_keys',
  usage: 'cloud-connector keygen [--out FILE] [--json]',
  async run(argv, io) {
    const p = parse('keygen', argv, { out: { type: 'string', short: 'o' } })
    const pem = generateSigningKeyPem()
    const key = loadSigningKeySync(pem)
    const out = str(p, 'out')
    if (out !== undefined) {
      try {
        // The private key: readable by its owner only.
        await writeFile(out, pem, { mode: 0o600, flag: 'wx' })
        await chmod(out, 0o600)
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code
        throw new CliFailure(
          code === 'EEXIST' ? `'${shownPath(out)}' already exists; keygen never overwrites a key. Choose another --out.` : `cannot write '${shownPath(out)}': ${code ?? 'error'}.`,
        )
      }
    }
    if (flag(p, 'json')) {
      printJson(io, { kid: key.kid, alg: key.alg, bits: key.modulusLength, publicJwk: key.publicJwk, ...(out ? { out } : { pem }) })
    } else if (out !== undefined) {
      io.stdout.write(`${visible(out)}\n`)
      io.stderr.write(`wrote RSA-${key.modulusLength} PKCS#1 key to ${visible(out)} (mode 0600), kid ${key.kid}\n`)
    } else {
      io.stdout.write(pem)
    }
    return 0
  },
}

export const jwks: Command = {
  summary: 'Print the JWKS an instance publishes at /oauth/discovery/keys for the given keys',
  usage: 'cloud-connector jwks --key FILE [--key FILE]... [--json]',
  async run(argv, io) {
    const p = parse('jwks', argv, { key: { type: 'string', short: 'k', multiple: true } })
    const files = list(p, 'key')
    if (files.length === 0) throw new UsageError("at least one --key FILE is required. See 'cloud-connector jwks --help'.")
    const keys = await Promise.all(files.map((f) => loadKeyFile(f)))
    const set = toJwks(keys)
    printJson(io, set)
    if (!flag(p, 'json') && io.stderr.isTTY) {
      const style = styleFor(io.stderr, io.env)
      io.stderr.write(style.dim(`${set.keys.length} key(s): ${set.keys.map((k) => k.kid).join(', ')}\n`))
    }
    return 0
  },
}

/** Load a key file, naming the file in the error (never its content). */
export async function loadKeyFile(file: string): Promise<SigningKey> {
  const text = await readUserFile(file, 'key file')
  try {
    return loadSigningKeySync(text)
  } catch (err) {
    if (err instanceof CloudConnectorError) {
      throw new CliFailure(`key file '${shownPath(file)}' ${KEY_PROBLEMS[err.code] ?? 'is not a usable private key'} [${err.code}]`, { code: err.code, details: [`detail: ${err.message}`] })
    }
    throw err
  }
}

/** What is wrong with a key file, per key error code, and what to do. */
const KEY_PROBLEMS: Partial<Record<string, string>> = {
  ERR_KEY_PUBLIC_ONLY: "holds a public key only: give the instance's private key",
  ERR_KEY_NOT_RSA: "is not an RSA key: the instance key is RSA ('cloud-connector keygen' makes one)",
  ERR_KEY_TOO_SMALL: 'is an RSA key under 2048 bits: the instance key is RSA-2048',
  ERR_KEY_ENCRYPTED: 'is encrypted: decrypt it first (openssl rsa -in FILE -out plain.pem)',
  ERR_KEY_TRUNCATED: 'is truncated: copy the whole PEM, from its BEGIN line to its END line',
  ERR_KEY_INVALID: 'is not a PEM (BEGIN RSA PRIVATE KEY or BEGIN PRIVATE KEY) or a private JWK',
}
