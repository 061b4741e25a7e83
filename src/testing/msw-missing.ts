import { CloudConnectorError } from '../errors.js'

/**
 * msw could not be loaded: the handlers need it installed next to the SDK. In a module of its own, without
 * msw's types, so that the union of error classes (errors.ts) does not make every declaration file import msw.
 */
export class MswMissingError extends CloudConnectorError {
  static override readonly codes = ['ERR_MSW_MISSING'] as const
  declare readonly code: (typeof MswMissingError.codes)[number]
  constructor(cause: unknown) {
    super(
      'ERR_MSW_MISSING',
      'cloud-connector-sdk/testing/msw: the msw handlers need msw 2 installed in your project (npm install --save-dev msw@2); cloud-connector-sdk/testing works without it.',
      { cause },
    )
  }
}
