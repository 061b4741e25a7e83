/**
 * Reading a response body with bounds on memory and time. `response.text()` buffers the whole body before
 * anyone can look at its size, and is bounded by no timer once the headers have arrived, so a hostile or
 * broken server could make the process hold hundreds of MiB, or wait forever; `BodyReader` stops reading
 * once a limit is passed and cancels the rest of the stream (which closes the connection).
 */

/** When a body read must end, besides its byte cap. */
export interface BodyReadOptions {
  /** `performance.now()` by which the whole body must have arrived. */
  deadline?: number | undefined
  /** The longest wait for the next chunk, in ms (streams). */
  idleMs?: number | undefined
  /** The caller's signal: aborting it stops the read at once. */
  signal?: AbortSignal | undefined
}

/** Why a body read stopped early: the deadline or idle gap passed, the caller aborted, or the cap was reached. */
export class BodyReadStop extends Error {
  constructor(
    readonly kind: 'timeout' | 'aborted' | 'too-large',
    /** Bytes received before the stop (for `too-large` from Content-Length: the declared length). */
    readonly bytes: number,
  ) {
    super(`body read stopped: ${kind}`)
  }
}

/**
 * The one reader of every body the SDK reads (the gateway's JSON answers, error bodies and streams; OIDC
 * discovery documents and key sets): it enforces a byte cap while
 * streaming — past the cap it stops reading and closes the connection, it never buffers the rest — and the
 * time limits, a deadline for the whole body and/or an idle gap between chunks. It listens to the caller's
 * signal itself: fetch's own link to that signal goes through `AbortSignal.any()` (ky), whose combined signal
 * Node holds only weakly once the headers have arrived, so after a garbage collection an abort during the body
 * no longer reached the stream (the read then hung). A stop cancels the stream, which closes the connection.
 */
export class BodyReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array> | undefined
  readonly #maxBytes: number
  readonly #overflow: 'fail' | 'truncate'
  readonly #idleMs: number | undefined
  readonly #signal: AbortSignal | undefined
  #bytes = 0
  #stop: BodyReadStop | undefined
  #done = false
  #deadlineTimer: ReturnType<typeof setTimeout> | undefined
  #idleTimer: ReturnType<typeof setTimeout> | undefined
  readonly #onAbort = () => this.#halt('aborted')

  constructor(response: Response, limits: BodyReadOptions & { maxBytes: number; overflow: 'fail' | 'truncate' }) {
    this.#maxBytes = limits.maxBytes
    this.#overflow = limits.overflow
    this.#idleMs = limits.idleMs
    this.#signal = limits.signal
    const body = response.body
    if (body === null) {
      this.#reader = undefined
      this.#done = true
      return
    }
    this.#reader = body.getReader()
    // a declared length over a failing cap is refused before reading a byte
    const declared = Number(response.headers.get('content-length') ?? Number.NaN)
    if (this.#overflow === 'fail' && declared > this.#maxBytes) {
      this.#halt('too-large', declared)
      return
    }
    if (this.#signal?.aborted) {
      this.#halt('aborted')
      return
    }
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true })
    if (limits.deadline !== undefined) {
      this.#deadlineTimer = setTimeout(() => this.#halt('timeout'), Math.max(0, limits.deadline - performance.now()))
    }
  }

  /** The next chunk, `undefined` at the end (or at a `truncate` cap). Rejects with `BodyReadStop`, or the stream's own error. */
  async next(): Promise<Uint8Array | undefined> {
    if (this.#stop !== undefined) throw this.#stop
    if (this.#done || this.#reader === undefined) return undefined
    if (this.#idleMs !== undefined) this.#idleTimer = setTimeout(() => this.#halt('timeout'), this.#idleMs)
    let chunk: Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>>
    try {
      chunk = await this.#reader.read()
    } catch (e) {
      this.#release()
      throw this.#stop ?? e
    } finally {
      if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer)
    }
    // a halt cancels the stream, which ends the pending read as "done"
    if (this.#stop !== undefined) throw this.#stop
    if (chunk.done) {
      this.#release()
      return undefined
    }
    const value = chunk.value
    const room = this.#maxBytes - this.#bytes
    this.#bytes += value.byteLength
    if (value.byteLength <= room) return value
    if (this.#overflow === 'fail') {
      this.#halt('too-large')
      throw this.#stop
    }
    void this.cancel()
    return room > 0 ? value.subarray(0, room) : undefined
  }

  /** Stop reading and close the connection (a consumer that stops early). */
  async cancel(): Promise<void> {
    if (this.#done) return
    this.#release()
    await this.#reader?.cancel().catch(() => undefined)
  }

  /** Everything up to the end or the cap, as text (UTF-8). `into` keeps the chunks that arrived before a failure. */
  async text(into: Uint8Array[] = []): Promise<string> {
    for (let chunk = await this.next(); chunk !== undefined; chunk = await this.next()) into.push(chunk)
    return decodeUtf8(into)
  }

  #halt(kind: BodyReadStop['kind'], bytes = this.#bytes): void {
    if (this.#stop !== undefined || this.#done) return
    this.#stop = new BodyReadStop(kind, bytes)
    this.#release()
    void this.#reader?.cancel().catch(() => undefined)
  }

  #release(): void {
    this.#done = true
    if (this.#deadlineTimer !== undefined) clearTimeout(this.#deadlineTimer)
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer)
    this.#signal?.removeEventListener('abort', this.#onAbort)
  }
}

const UTF8 = new TextDecoder()

/** UTF-8 text of the chunks, as `response.text()` decodes it (a BOM dropped, invalid sequences replaced). */
export function decodeUtf8(chunks: readonly Uint8Array[]): string {
  return chunks.length === 0 ? '' : UTF8.decode(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks))
}

