/**
 * Typed domain errors and their single mapping to HTTP answers.
 *
 * Every error a caller can see is one of these classes; anything else becomes a
 * generic 500 so that no exception text, stack or dependency detail ever leaves
 * the function (the original stack's 500s echoed internal messages).
 */

/** Body shape of every error answer: `{"error": {"code", "message"}}`. */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string };
}

/** An API Gateway proxy result for an error, ready to return. */
export interface ErrorResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Base class: a failure whose code, status and message are safe to show to a caller. */
export abstract class DomainError extends Error {
  abstract readonly code: string;
  abstract readonly statusCode: number;
  /** True when the same request may succeed later (callers and the stream consumer retry these). */
  readonly retryable: boolean = false;
}

/** The request is malformed; retrying it unchanged can never succeed. */
export class ValidationError extends DomainError {
  readonly statusCode: number;
  constructor(
    readonly code: ValidationErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ValidationError';
    this.statusCode = validationStatus[code];
  }
}

/** Codes a malformed request can produce. */
export type ValidationErrorCode =
  | 'InvalidJson'
  | 'InvalidRequest'
  | 'InvalidFeatures'
  | 'InvalidRequestId'
  | 'InvalidPredictionId'
  | 'InvalidFeedback'
  | 'PayloadTooLarge'
  | 'UnsupportedMediaType';

const validationStatus: Record<ValidationErrorCode, number> = {
  InvalidJson: 400,
  InvalidRequest: 400,
  InvalidFeatures: 400,
  InvalidRequestId: 400,
  InvalidPredictionId: 400,
  InvalidFeedback: 400,
  PayloadTooLarge: 413,
  UnsupportedMediaType: 415,
};

/** The requested prediction does not exist (or its TTL has expired). */
export class NotFoundError extends DomainError {
  readonly code = 'NotFound';
  readonly statusCode = 404;
  constructor(message = 'No prediction with this id.') {
    super(message);
    this.name = 'NotFoundError';
  }
}

/** A `requestId` was reused for different features: answering the stored prediction would be wrong. */
export class ConflictError extends DomainError {
  readonly code = 'RequestIdConflict';
  readonly statusCode = 409;
  constructor(message = 'This requestId was already used with different features.') {
    super(message);
    this.name = 'ConflictError';
  }
}

/**
 * How a dependency failed. `unavailable`: throttled, down or timed out (503);
 * `model-error`: the model container failed or answered garbage (502);
 * `rejected`: the model container refused this input (422): the caller's error, which no
 * retry fixes and which must not count as a model failure.
 */
export type UpstreamFailureKind = 'unavailable' | 'model-error' | 'rejected';

/**
 * A dependency (the SageMaker endpoint or Parameter Store) failed. The message is
 * fixed per kind; the dependency's own text stays in `cause` for the log line only.
 */
export class UpstreamError extends DomainError {
  readonly code: string;
  readonly statusCode: number;
  override readonly retryable: boolean;
  constructor(
    readonly kind: UpstreamFailureKind,
    options: { readonly cause?: unknown; readonly dependency?: 'model' | 'parameters' } = {},
  ) {
    super(upstreamMessage[kind], { cause: options.cause });
    this.name = 'UpstreamError';
    const dependency = options.dependency ?? 'model';
    this.code = dependency === 'parameters' ? 'ConfigurationUnavailable' : upstreamCode[kind];
    this.statusCode = upstreamStatus[kind];
    this.retryable = kind !== 'rejected';
  }
}

const upstreamStatus: Record<UpstreamFailureKind, number> = {
  unavailable: 503,
  'model-error': 502,
  rejected: 422,
};

const upstreamCode: Record<UpstreamFailureKind, string> = {
  unavailable: 'ModelUnavailable',
  'model-error': 'ModelError',
  rejected: 'ModelRejectedInput',
};

const upstreamMessage: Record<UpstreamFailureKind, string> = {
  unavailable: 'The model is temporarily unavailable. Retry the request later.',
  'model-error': 'The model failed to answer. Retry the request later.',
  rejected: 'The model could not score this input; change the features before retrying.',
};

const jsonHeaders = { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' };

/**
 * Maps any thrown value to an API answer. Domain errors keep their code and
 * message; everything else is a 500 with a fixed body, so callers never see
 * internal text. Retryable upstream failures carry `Retry-After`.
 */
export function toErrorResponse(error: unknown): ErrorResponse {
  if (error instanceof DomainError) {
    const headers: Record<string, string> = error.retryable
      ? { ...jsonHeaders, 'Retry-After': '1' }
      : { ...jsonHeaders };
    return {
      statusCode: error.statusCode,
      headers,
      body: JSON.stringify(errorBody(error.code, error.message)),
    };
  }
  return {
    statusCode: 500,
    headers: { ...jsonHeaders },
    body: JSON.stringify(errorBody('InternalError', 'The request could not be processed.')),
  };
}

/** Builds the error body shape shared by every component that answers errors. */
export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}
