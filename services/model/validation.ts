/** Error codes of the model server's `{"error":{"code","message"}}` answers. */
export type ErrorCode =
  | 'InvalidInput'
  | 'UnscorableInput'
  | 'UnsupportedMediaType'
  | 'NotFound'
  | 'MethodNotAllowed'
  | 'ModelNotReady'
  | 'InternalError';

/** A request the server refuses; `status` and `code` go to the client, with `message`. */
export class RequestError extends Error {
  override readonly name = 'RequestError';

  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A 422 `UnscorableInput` error: the input was well formed but the model produced no usable
 * answer for it (non-finite probabilities). It is the input's doing, so it must not be a 5xx,
 * which SageMaker counts as a container error and the canary alarm as a model failure.
 */
export function unscorableInput(message: string): RequestError {
  return new RequestError(422, 'UnscorableInput', message);
}

/** A 400 `InvalidInput` error. */
export function invalidInput(message: string): RequestError {
  return new RequestError(400, 'InvalidInput', message);
}

/** Limits that one invocation must respect. */
export interface InvocationLimits {
  /** Values per row: the model's `featureCount`. */
  readonly featureCount: number;
  /** Largest number of rows in one request. */
  readonly maxRows: number;
}

/**
 * Refuses anything but `application/json` (parameters such as `charset=utf-8` allowed).
 * @throws RequestError 415
 */
export function assertJsonContentType(contentType: string | undefined): void {
  const mediaType = contentType?.split(';')[0].trim().toLowerCase();
  if (mediaType !== 'application/json') {
    throw new RequestError(
      415,
      'UnsupportedMediaType',
      `Content-Type must be application/json, got ${contentType ? `"${contentType}"` : 'none'}`,
    );
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  // Never the value itself: answers and logs must not carry feature values.
  if (typeof value === 'number') return Number.isFinite(value) ? 'a number' : String(value);
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function parseRow(value: unknown, index: number, featureCount: number): number[] {
  if (!Array.isArray(value))
    throw invalidInput(`Row ${index} must be an array of numbers, got ${describe(value)}`);
  if (value.length !== featureCount) {
    throw invalidInput(`Row ${index} has ${value.length} values; the model expects ${featureCount} features`);
  }
  value.forEach((feature: unknown, j) => {
    if (typeof feature !== 'number' || !Number.isFinite(feature)) {
      throw invalidInput(`Row ${index}, feature ${j} must be a finite number, got ${describe(feature)}`);
    }
    // The model's input is float32: a value beyond its range would reach the graph as Infinity.
    if (!Number.isFinite(Math.fround(feature))) {
      throw invalidInput(
        `Row ${index}, feature ${j} is outside the float32 range of the model input (magnitude above 3.4028235e38)`,
      );
    }
  });
  return value as number[];
}

function rowsOf(body: unknown): unknown[] {
  if (Array.isArray(body)) {
    return body.length > 0 && !Array.isArray(body[0]) ? [body] : body;
  }
  if (typeof body === 'object' && body !== null && 'instances' in body) {
    const { instances } = body as { instances: unknown };
    if (!Array.isArray(instances)) throw invalidInput('"instances" must be an array of rows');
    return instances;
  }
  throw invalidInput(
    'Body must be one row [f1, f2, ...], a batch [[...], ...] or {"instances": [[...], ...]}',
  );
}

/**
 * Validated rows of an invocation body: one row (`[5.1, 3.5, 1.4, 0.2]`), a batch (`[[...], ...]`)
 * or `{"instances": [[...], ...]}`.
 * @throws RequestError 400 `InvalidInput` saying what is wrong and where.
 */
export function parseInvocationRows(body: string, limits: InvocationLimits): number[][] {
  if (body.trim() === '') throw invalidInput('Request body is empty');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw invalidInput('Request body is not valid JSON');
  }
  const rows = rowsOf(parsed);
  if (rows.length === 0) throw invalidInput('Batch is empty: send at least one row');
  if (rows.length > limits.maxRows) {
    throw invalidInput(`Batch has ${rows.length} rows; at most ${limits.maxRows} are allowed per request`);
  }
  return rows.map((row, i) => parseRow(row, i, limits.featureCount));
}
