/**
 * The loopback server of figure 5: a plain node:http server in its own process (as a gateway would
 * be), answering every POST with a small 200 JSON body (a code suggestion) as fast as node can, with
 * keep-alive. It counts requests and those that carried a Bearer token; GET /stats returns the counts.
 *
 * The source is plain CommonJS run with `node -e`, so it starts the same under tsx, vitest or node.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'

export interface LoopbackServer {
  baseUrl: string
  stats(): Promise<{ requests: number; withBearer: number }>
  close(): Promise<void>
}

export async function startLoopbackServer(): Promise<LoopbackServer> {
  const child = spawn(process.execPath, ['-e', SERVER_SOURCE], { stdio: ['pipe', 'pipe', 'inherit'] })
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NonNullable<ChildProcess['stdout']> })
    lines.once('line', (line) => {
      lines.close()
      const parsed = JSON.parse(line) as { port?: unknown }
      if (typeof parsed.port === 'number') resolve(parsed.port)
      else reject(new Error(`bench: the loopback server said ${line}`))
    })
    child.once('exit', (code) => reject(new Error(`bench: the loopback server exited (${code}) before listening`)))
    child.once('error', reject)
  })
  const baseUrl = `http://127.0.0.1:${port}`
  return {
    baseUrl,
    async stats() {
      const res = await fetch(`${baseUrl}/stats`)
      return (await res.json()) as { requests: number; withBearer: number }
    },
    close() {
      return new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        // closing stdin is the server's signal to exit; the kill is the fallback
        child.stdin?.end()
        setTimeout(() => child.kill(), 2_000).unref()
      })
    },
  }
}

/** A non-streamed `/v2/code/completions` answer, as the gateway sends it. */
export const SUGGESTION = {
  id: 'id',
  model: { engine: 'vertex-ai', name: 'code-gecko@002', lang: 'python' },
  experiments: [],
  object: 'text_completion',
  created: 1_772_366_400,
  choices: [{ text: 'return a + b', index: 0, finish_reason: 'length' }],
}

const SERVER_SOURCE = `
const http = require('node:http')
const body = Buffer.from(${JSON.stringify(JSON.stringify(SUGGESTION))})
let requests = 0, withBearer = 0
const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' })
    return res.end(JSON.stringify({ requests, withBearer }))
  }
  requests++
  if (/^Bearer ey/.test(req.headers.authorization || '')) withBearer++
  req.resume()
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length })
    res.end(body)
  })
})
server.keepAliveTimeout = 120000
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\\n'))
process.stdin.on('end', () => { server.closeAllConnections(); server.close(() => process.exit(0)) })
process.stdin.resume()
`
