/**
 * ky, loaded when the first gateway client is created rather than when the package is imported.
 *
 * Why: ky costs some 40 ms of CPU to load (bench figure 8), and a process that imports the SDK to mint tokens,
 * verify them or run preflight never sends through ky. The client starts loading it in its factory and awaits
 * it on its first request; ky is an ES module, so both builds load it with `import()`.
 */
type KyModule = typeof import('ky')

let lib: KyModule | undefined
let loading: Promise<KyModule> | undefined

/** ky's module; the same promise for every caller, settled once. */
export function loadKy(): Promise<KyModule> {
  if (lib !== undefined) return Promise.resolve(lib)
  return (loading ??= import('ky').then(
    (m) => (lib = m),
    (e: unknown) => {
      loading = undefined // a later request tries again
      throw e
    },
  ))
}

/** Whether `e` is ky's TimeoutError (only ky can have thrown one, so ky is loaded if it is). */
export function isKyTimeout(e: unknown): boolean {
  return lib !== undefined && e instanceof lib.TimeoutError
}
