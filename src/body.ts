/**
 * Reading a response body with a bound on memory. `response.text()` buffers the whole body before anyone
 * can look at its size, so a hostile or broken server could make the process hold hundreds of MiB; this
 * stops reading once the limit is passed and cancels the rest of the stream (which closes the connection).
 */

export interface BoundedBody {
  /** At most `maxBytes` bytes: the start of the body. */
  bytes: Uint8Array
  /** False when the body was longer than `maxBytes` (its rest was not read). */
  complete: boolean
}

/**
 * Read at most `maxBytes` of `response`'s body while it streams. A body announced (Content-Length) as
 * longer is not read at all when `refuseEarly` is set. Rejects as the stream does (an abort, a timeout,
 * a reset connection).
 */
export async function readAtMost(response: Response, maxBytes: number, refuseEarly = false): Promise<BoundedBody> {
  const body = response.body
  if (body === null) return { bytes: new Uint8Array(0), complete: true }
  if (refuseEarly) {
    const announced = Number(response.headers.get('content-length') ?? Number.NaN)
    if (Number.isFinite(announced) && announced > maxBytes) {
      await body.cancel().catch(() => undefined)
      return { bytes: new Uint8Array(0), complete: false }
    }
  }
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return { bytes: concat(chunks, size), complete: true }
      if (size + value.byteLength > maxBytes) {
        chunks.push(value.subarray(0, maxBytes - size))
        size = maxBytes
        await reader.cancel().catch(() => undefined)
        return { bytes: concat(chunks, size), complete: false }
      }
      chunks.push(value)
      size += value.byteLength
    }
  } finally {
    reader.releaseLock()
  }
}

/** UTF-8 text as `response.text()` decodes it (a BOM dropped, invalid sequences replaced). */
export function utf8Text(bytes: Uint8Array): string {
  return new TextDecoder('utf-8').decode(bytes)
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0] as Uint8Array
  const out = new Uint8Array(size)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.byteLength
  }
  return out
}
