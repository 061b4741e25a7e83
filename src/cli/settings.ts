/**
 * The instance settings of `mint`, `check-model` and `verify`, so that they need not be six flags each: a flag,
 * else its environment variable (the ones `createCloudConnector` reads), else the config file — `--config FILE`,
 * `CLOUD_CONNECTOR_CONFIG`, or `cloud-connector.json` in the current directory — whose members are
 * `createCloudConnector`'s option names. Messages name where a value came from, so the fix is made there.
 */
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import type { z } from 'zod'
import { lazy } from '../zod.js'
import { CONNECTOR_ENV } from '../connector.js'
import { CliFailure, echo, str, list, UsageError, type Parsed } from './args.js'
import { readUserFile, shownPath, type CliIo } from './io.js'

/** The file read when neither `--config` nor `CLOUD_CONNECTOR_CONFIG` names one (and it exists). */
export const DEFAULT_CONFIG_FILE = 'cloud-connector.json'
export const CONFIG_ENV = 'CLOUD_CONNECTOR_CONFIG'

/** Each setting: its flag, its variable, its member in the config file. */
const SETTINGS = {
  key: { env: CONNECTOR_ENV.keyFile, config: 'keyFile' },
  issuer: { env: CONNECTOR_ENV.url, config: 'instance.url' },
  'instance-id': { env: CONNECTOR_ENV.id, config: 'instance.id' },
  realm: { env: CONNECTOR_ENV.realm, config: 'instance.realm' },
  'gitlab-version': { env: CONNECTOR_ENV.version, config: 'instance.version' },
  'add-on': { env: CONNECTOR_ENV.addOns, config: 'addOns' },
  license: { env: CONNECTOR_ENV.license, config: 'license' },
  gateway: { env: CONNECTOR_ENV.gateway, config: 'gateway' },
  policy: { env: undefined, config: 'policy' },
} as const
export type SettingName = keyof typeof SETTINGS

/** The usage lines of the commands that read the settings. */
export const CONFIG_HELP = [
  '  Each instance flag may instead come from its environment variable or the config file (flag > variable > file):',
  '    --key CLOUD_CONNECTOR_KEY_FILE keyFile, --issuer GITLAB_URL instance.url, --instance-id GITLAB_INSTANCE_ID instance.id,',
  '    --realm GITLAB_REALM instance.realm, --add-on GITLAB_ADD_ONS (comma-separated) addOns, --gitlab-version GITLAB_VERSION',
  '    instance.version, --license GITLAB_LICENSE license, --gateway AI_GATEWAY_URL gateway, --policy policy.',
  `  The config file: --config FILE, or ${CONFIG_ENV}, or ./${DEFAULT_CONFIG_FILE} if it exists (JSON; keyFile relative to it).`,
].join('\n')

const text = lazy((z) => z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' }))
const configSchema = lazy((z) => z.strictObject({
  $schema: z.string().optional(),
  instance: z.strictObject({ url: text().optional(), id: text().optional(), realm: text().optional(), version: text().optional() }).optional(),
  keyFile: text().optional(),
  license: text().optional(),
  addOns: z.array(text(), { error: 'must be an array of add-on names, e.g. ["duo_enterprise"]' }).optional(),
  gateway: text().optional(),
  policy: text().optional(),
}))
type ConfigFile = z.output<ReturnType<typeof configSchema>>

export interface Settings {
  /** A setting's value (for `add-on`, the list), or undefined when nothing gives it. */
  value(name: SettingName): string | undefined
  list(name: 'add-on'): string[]
  /** How a message names where the value came from: `--issuer`, `GITLAB_URL`, `instance.url in cloud-connector.json`. */
  source(name: SettingName): string
  /** The value, or a usage error naming every place it may come from. */
  required(command: string, name: SettingName): string
}

/** The settings of one command run: its parsed flags, the environment, and the config file if there is one. */
export async function settingsFrom(p: Parsed, io: CliIo): Promise<Settings> {
  const { file, config } = await readConfig(p, io)
  const fromConfig = (name: SettingName): string | string[] | undefined => {
    const path = SETTINGS[name].config
    const value = path.startsWith('instance.') ? config.instance?.[path.slice('instance.'.length) as 'url'] : config[path as Exclude<keyof ConfigFile, 'instance' | '$schema'>]
    // a key file is named relative to the config file that names it
    return name === 'key' && typeof value === 'string' && file !== undefined ? resolve(dirname(file), value) : value
  }
  const envOf = (name: SettingName): string | undefined => {
    const variable = SETTINGS[name].env
    const v = variable === undefined ? undefined : io.env[variable]?.trim()
    return v === undefined || v === '' ? undefined : v
  }
  const from = (name: SettingName): 'flag' | 'env' | 'config' | undefined => {
    const given = name === 'add-on' ? list(p, name).length > 0 : str(p, name) !== undefined
    if (given) return 'flag'
    if (envOf(name) !== undefined) return 'env'
    return fromConfig(name) === undefined ? undefined : 'config'
  }
  const settings: Settings = {
    value(name) {
      const where = from(name)
      if (where === 'flag') return str(p, name)
      if (where === 'env') return envOf(name)
      const v = where === 'config' ? fromConfig(name) : undefined
      return typeof v === 'string' ? v : undefined
    },
    list(name) {
      const where = from(name)
      if (where === 'flag') return list(p, name)
      if (where === 'env') return (envOf(name) ?? '').split(',').map((a) => a.trim()).filter((a) => a !== '')
      const v = where === 'config' ? fromConfig(name) : undefined
      return Array.isArray(v) ? v : []
    },
    source(name) {
      const where = from(name)
      const { env, config: member } = SETTINGS[name]
      if (where === 'env' && env !== undefined) return env
      if (where === 'config' && file !== undefined) return `${member} in ${shownPath(file)}`
      return `--${name}`
    },
    required(command, name) {
      const v = settings.value(name)
      if (v !== undefined && v !== '') return v
      const { env, config: member } = SETTINGS[name]
      throw new UsageError(
        `--${name} is required (or set ${env === undefined ? '' : `${env} or `}"${member}" in the config file, --config FILE or ./${DEFAULT_CONFIG_FILE}). See 'cloud-connector ${command} --help'.`,
      )
    },
  }
  return settings
}

/** The config file named by `--config` or `CLOUD_CONNECTOR_CONFIG` (it must exist), else the default one if present. */
async function readConfig(p: Parsed, io: CliIo): Promise<{ file?: string; config: ConfigFile }> {
  const cwd = io.cwd ?? process.cwd()
  const named = str(p, 'config') ?? (io.env[CONFIG_ENV]?.trim() || undefined)
  const file = named !== undefined ? resolve(cwd, named) : existsSync(join(cwd, DEFAULT_CONFIG_FILE)) ? join(cwd, DEFAULT_CONFIG_FILE) : undefined
  if (file === undefined) return { config: {} }
  const source = await readUserFile(file, 'config file')
  let parsed: unknown
  try {
    parsed = JSON.parse(source)
  } catch {
    throw new CliFailure(`config file '${shownPath(file)}' is not JSON: write an object such as {"instance": {"url": "https://gitlab.example.com", "id": "<uuid>"}, "keyFile": "instance-key.pem"}.`, { code: 'ERR_CONFIG_INVALID' })
  }
  const result = configSchema().safeParse(parsed)
  if (!result.success) {
    const issue = result.error.issues[0]
    const path = issue?.path.map(String).join('.') ?? ''
    const what =
      issue?.code === 'unrecognized_keys'
        ? `${issue.keys.map((k) => `"${echo([path, k].filter(Boolean).join('.'))}"`).join(', ')} is not a setting; known: ${KNOWN}`
        : path === ''
          ? 'must be a JSON object of settings'
          : `"${path}" ${issue?.message ?? 'is invalid'}`
    throw new CliFailure(`config file '${shownPath(file)}': ${what}.`, { code: 'ERR_CONFIG_INVALID' })
  }
  return { file, config: result.data }
}

// `instance.{url,id,realm,version}, keyFile, ...`: short enough for the one-line error with a long file path
const KNOWN = (() => {
  const members = Object.values(SETTINGS).map((s) => s.config as string)
  const inInstance = members.filter((m) => m.startsWith('instance.')).map((m) => m.slice('instance.'.length))
  return [`instance.{${inInstance.join(',')}}`, ...members.filter((m) => !m.startsWith('instance.'))].join(', ')
})()
