/**
 * The emulator in a process of its own, for the load test: the load generator and the gateway then
 * each have a core, as a real instance and a real gateway would. (In one process, a saturated event
 * loop starves newly opened connections for seconds — plain node:http + fetch show the same — which
 * says nothing about the SDK and expires short-lived tokens in flight.)
 *
 * Run with `node --import tsx`; started by `startEmulatorProcess()` below. Talks over the IPC channel:
 * the parent asks for request counts and tells it to stop; it exits when the parent goes away.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { RequestFilter } from '../../src/emulator/index.js'

type Message = { type: 'ready'; url: string; instanceUrl: string } | { type: 'count'; id: number; value: number } | { type: 'error'; message: string }

export interface EmulatorProcess {
  readonly url: string
  readonly instanceUrl: string
  countRequests(filter?: RequestFilter): Promise<number>
  stop(): Promise<void>
}

/** Start the emulator in a child process with this key (PEM file) and instance UUID. */
export async function startEmulatorProcess(keyFile: string, instanceId: string): Promise<EmulatorProcess> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--child', keyFile, instanceId], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const pending = new Map<number, (n: number) => void>()
  let nextId = 0
  const ready = new Promise<{ url: string; instanceUrl: string }>((resolve, reject) => {
    child.on('message', (m: Message) => {
      if (m.type === 'ready') resolve(m)
      else if (m.type === 'count') pending.get(m.id)?.(m.value)
      else reject(new Error(m.message))
    })
    child.once('exit', (code) => reject(new Error(`emulator process exited (${code})`)))
  })
  const { url, instanceUrl } = await ready
  return {
    url,
    instanceUrl,
    countRequests(filter) {
      const id = nextId++
      return new Promise((resolve) => {
        pending.set(id, resolve)
        child.send({ type: 'count', id, filter })
      })
    },
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.send({ type: 'stop' })
        // never outlive the test, whatever happens in the child
        setTimeout(() => child.kill('SIGKILL'), 5_000).unref()
      }),
  }
}

if (process.argv[2] === '--child') {
  const [, , , keyFile, instanceId] = process.argv
  const { readFileSync } = await import('node:fs')
  const { startEmulator } = await import('../../src/emulator/index.js')
  const send = (m: Message) => process.send?.(m)
  try {
    const emulator = await startEmulator({ key: readFileSync(keyFile as string, 'utf8'), instance: { instanceId: instanceId as string } })
    process.on('message', (m: { type: 'count'; id: number; filter?: RequestFilter } | { type: 'stop' }) => {
      if (m.type === 'count') send({ type: 'count', id: m.id, value: emulator.countRequests(m.filter) })
      else void emulator.stop().then(() => process.exit(0))
    })
    process.on('disconnect', () => void emulator.stop().then(() => process.exit(0)))
    send({ type: 'ready', url: emulator.url, instanceUrl: emulator.instanceUrl })
  } catch (e) {
    send({ type: 'error', message: e instanceof Error ? e.message : String(e) })
    process.exit(1)
  }
}
