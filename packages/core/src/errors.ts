/** Machine-readable category of a {@link TesseraError}. */
export type TesseraErrorCode =
  | 'SHAPE_MISMATCH'
  | 'DTYPE_MISMATCH'
  | 'INVALID_ARGUMENT'
  | 'DISPOSED'
  | 'BACKEND_MISMATCH'
  | 'BACKEND_UNAVAILABLE'
  | 'UNKNOWN_NAME'
  | 'INVALID_CONFIG'
  | 'FILE_NOT_FOUND'
  | 'CORRUPT_FILE'
  | 'UNSUPPORTED'
  | 'MODEL_MISMATCH'
  | 'ABORTED'
  | 'OUT_OF_RANGE';

/**
 * The one error type Tessera throws for bad input. `code` says what kind of problem it is; the message
 * names the op, file or key involved and what was expected versus what came.
 */
export class TesseraError extends Error {
  readonly code: TesseraErrorCode;
  constructor(code: TesseraErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TesseraError';
    this.code = code;
  }
}

/** Throws a {@link TesseraError} with `code` and `message` unless `condition` holds. */
export function check(
  condition: unknown,
  code: TesseraErrorCode,
  message: string | (() => string),
): asserts condition {
  if (!condition) throw new TesseraError(code, typeof message === 'function' ? message() : message);
}

/** Formats a shape as `[2, 3]` for error messages. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
