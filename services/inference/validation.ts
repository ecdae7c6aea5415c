import { ValidationError } from './errors';

export { ValidationError } from './errors';

/** A well-formed prediction request (API body or stream record). */
export interface PredictRequest {
  readonly features: readonly number[];
  readonly requestId?: string;
}

/** The input width a request must have: the deployed versions' shared `featureCount`, and who takes it. */
export interface FeatureShape {
  /** Number of features every deployed version takes (`<prefix>/input-schema`). */
  readonly featureCount: number;
  /** The deployed versions, named in the refusal so a caller knows which models' width it missed. */
  readonly versions?: readonly string[];
}

/** What a valid request depends on: the deployed models' input width and the body size cap. */
export interface ValidationLimits extends FeatureShape {
  /** Largest accepted body, in UTF-8 bytes. */
  readonly maxBodyBytes: number;
}

/** Either the typed request or the reason it was refused. */
export type ValidationResult =
  | { readonly ok: true; readonly request: PredictRequest }
  | { readonly ok: false; readonly error: ValidationError };

const allowedFields = new Set(['features', 'requestId']);
/** What a `requestId` may be (the API's request model carries the same pattern). */
export const REQUEST_ID_PATTERN = '^[A-Za-z0-9._:-]{1,128}$';
const requestIdPattern = new RegExp(REQUEST_ID_PATTERN);

/**
 * Checks a raw request body against the `POST /predict` contract before anything
 * is scored or written: a JSON object with exactly the deployed models' `featureCount` numbers that pass
 * {@link checkFeatureValues},
 * an optional safe `requestId`, and no other fields. Pure, so the API and the
 * stream consumer apply the same rules.
 */
export function validateRequest(body: string | null | undefined, limits: ValidationLimits): ValidationResult {
  if (body === null || body === undefined || body.trim() === '') {
    return refuse('InvalidRequest', 'The request body is empty; send {"features": [...]}.');
  }
  if (Buffer.byteLength(body, 'utf8') > limits.maxBodyBytes) {
    return refuse('PayloadTooLarge', `The request body exceeds ${limits.maxBodyBytes} bytes.`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return refuse('InvalidJson', 'The request body is not valid JSON.');
  }
  return validateRequestObject(parsed, limits);
}

/** Same rules as {@link validateRequest} for an already parsed value. */
export function validateRequestObject(value: unknown, shape: FeatureShape): ValidationResult {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return refuse('InvalidRequest', 'The request body must be a JSON object.');
  }
  const unknownField = Object.keys(value).find((key) => !allowedFields.has(key));
  if (unknownField !== undefined) {
    return refuse(
      'InvalidRequest',
      `Unknown field "${unknownField.slice(0, 64)}"; allowed: features, requestId.`,
    );
  }
  const { features, requestId } = value as Record<string, unknown>;
  const featuresError = checkFeatures(features, shape);
  if (featuresError) return { ok: false, error: featuresError };
  if (requestId !== undefined && (typeof requestId !== 'string' || !requestIdPattern.test(requestId))) {
    return refuse(
      'InvalidRequestId',
      'requestId must be 1-128 characters of A-Z, a-z, 0-9, ".", "_", ":" or "-".',
    );
  }
  const request: PredictRequest =
    requestId === undefined
      ? { features: features as number[] }
      : { features: features as number[], requestId };
  return { ok: true, request };
}

/**
 * Content types `POST /predict` accepts. A missing header is accepted because
 * API Gateway test invocations and some clients omit it for JSON bodies.
 */
export function validateContentType(contentType: string | undefined): ValidationError | undefined {
  if (contentType === undefined) return undefined;
  const mediaType = contentType.split(';')[0]!.trim().toLowerCase();
  return mediaType === 'application/json'
    ? undefined
    : new ValidationError('UnsupportedMediaType', 'Send the request as application/json.');
}

function checkFeatures(
  features: unknown,
  { featureCount, versions }: FeatureShape,
): ValidationError | undefined {
  if (!Array.isArray(features)) {
    return new ValidationError('InvalidFeatures', 'features must be an array of numbers.');
  }
  if (features.length !== featureCount) {
    const models = versions?.length
      ? `, the input of the deployed model${versions.length > 1 ? 's' : ''} ${versions.join(' and ')}`
      : '';
    return new ValidationError(
      'InvalidFeatures',
      `features must have exactly ${featureCount} entries${models}; got ${features.length}.`,
    );
  }
  const problem = checkFeatureValues(features);
  return problem === undefined ? undefined : new ValidationError('InvalidFeatures', problem);
}

/**
 * Largest feature magnitude accepted: `Number.MAX_SAFE_INTEGER` (2^53 - 1). `@aws-sdk/lib-dynamodb`
 * refuses to marshal any number beyond it (every double that large is an integer it cannot prove
 * exact), and it also keeps every accepted value inside float32 (3.4e38) and DynamoDB (9.99e125).
 */
export const MAX_FEATURE_MAGNITUDE = Number.MAX_SAFE_INTEGER;

/**
 * The one rule for feature values that every scoring path applies (API, stream consumer, and the
 * batch scorer's mirror of it; CONTRACTS.md "Feature values"): each value must be a finite number
 * whose magnitude is at most {@link MAX_FEATURE_MAGNITUDE}, and a non-zero value must not underflow
 * to 0 in float32 (|x| below about 7e-46), since the model would then score another number than the
 * one stored (DynamoDB's own lower bound, 1e-130, is far below that). A value that passes is stored
 * losslessly: a double prints in at most 17 significant digits, inside DynamoDB's 38. Answers the
 * first problem as a message that names the index but never echoes the value, or undefined.
 */
export function checkFeatureValues(values: readonly unknown[]): string | undefined {
  for (let index = 0; index < values.length; index++) {
    const value = values[index];
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      return `features[${index}] must be a finite number.`;
    }
    if (Math.abs(value) > MAX_FEATURE_MAGNITUDE) {
      return `features[${index}] is out of range: magnitudes above 9007199254740991 (2^53 - 1) cannot be stored exactly.`;
    }
    if (value !== 0 && Math.fround(value) === 0) {
      return `features[${index}] is too small: non-zero magnitudes below about 7e-46 become 0 in the model's float32 input; send 0.`;
    }
  }
  return undefined;
}

function refuse(code: ValidationError['code'], message: string): ValidationResult {
  return { ok: false, error: new ValidationError(code, message) };
}
