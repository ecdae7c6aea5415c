import {
  InvokeEndpointCommand,
  ModelError,
  ModelNotReadyException,
  SageMakerRuntimeClient,
  SageMakerRuntimeServiceException,
} from '@aws-sdk/client-sagemaker-runtime';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { UpstreamError } from '../errors';
import type { ModelPrediction } from '../prediction';

/** One scored batch: a prediction per row, in order, and who produced it. */
export interface ScoredBatch {
  /** `modelVersion` from the model server's own answer (the variant's model, not the SSM pointer). */
  readonly modelVersion: string;
  /** SageMaker's `InvokedProductionVariant` (VariantA / VariantB). */
  readonly variant: string;
  readonly predictions: readonly ModelPrediction[];
  /** Round trip of the InvokeEndpoint call that scored the batch, in milliseconds. */
  readonly latencyMs?: number;
}

/** The model behind the endpoint, as the handlers need it. */
export interface ModelEndpoint {
  /** Scores rows in one invocation; throws {@link UpstreamError} on any failure. */
  score(rows: readonly (readonly number[])[]): Promise<ScoredBatch>;
}

/** Dependencies of {@link createSageMakerEndpoint}. */
export interface SageMakerEndpointOptions {
  /** Created once at cold start; tests point it at a local stand-in via `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`. */
  readonly client: SageMakerRuntimeClient;
  readonly endpointName: string;
}

/**
 * `InvokeEndpoint` with the model-server contract of CONTRACTS.md
 * (`{"instances": [[...]]}` in, `{modelVersion, labels, predictions}` out). Every
 * failure becomes an {@link UpstreamError} whose kind says whether a retry can help.
 */
export function createSageMakerEndpoint(options: SageMakerEndpointOptions): ModelEndpoint {
  return {
    async score(rows) {
      let output;
      const started = performance.now();
      try {
        output = await options.client.send(
          new InvokeEndpointCommand({
            EndpointName: options.endpointName,
            ContentType: 'application/json',
            Accept: 'application/json',
            Body: new TextEncoder().encode(JSON.stringify({ instances: rows })),
          }),
        );
      } catch (error) {
        throw classifyEndpointError(error);
      }
      const predictions = parseModelAnswer(output.Body, rows.length);
      if (!predictions || !output.InvokedProductionVariant) {
        throw new UpstreamError('model-error', { cause: new Error('Unexpected model server answer') });
      }
      return {
        ...predictions,
        variant: output.InvokedProductionVariant,
        latencyMs: performance.now() - started,
      };
    },
  };
}

/**
 * Sorts an `InvokeEndpoint` failure: the container refusing the input (ModelError
 * with a 4xx original status) is `rejected`; the container failing is
 * `model-error`; throttling, 5xx, not-ready, timeouts and network errors are
 * `unavailable`. The SDK's message is kept only as `cause`.
 */
export function classifyEndpointError(error: unknown): UpstreamError {
  if (error instanceof UpstreamError) return error;
  if (error instanceof ModelError) {
    const original = error.OriginalStatusCode ?? 500;
    return new UpstreamError(original >= 400 && original < 500 ? 'rejected' : 'model-error', {
      cause: error,
    });
  }
  if (error instanceof ModelNotReadyException) return new UpstreamError('unavailable', { cause: error });
  if (error instanceof SageMakerRuntimeServiceException && error.$fault === 'client') {
    const throttled = error.$metadata.httpStatusCode === 429 || /Throttl/i.test(error.name);
    return new UpstreamError(throttled ? 'unavailable' : 'model-error', { cause: error });
  }
  return new UpstreamError('unavailable', { cause: error });
}

function parseModelAnswer(
  body: Uint8Array | undefined,
  rowCount: number,
): Omit<ScoredBatch, 'variant'> | undefined {
  if (!body) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { modelVersion, predictions } = parsed as Record<string, unknown>;
  if (typeof modelVersion !== 'string' || !Array.isArray(predictions) || predictions.length !== rowCount) {
    return undefined;
  }
  const typed = predictions.map(toModelPrediction);
  return typed.every((p): p is ModelPrediction => p !== undefined)
    ? { modelVersion, predictions: typed }
    : undefined;
}

/** A classifier's `{label, probabilities}` or a regressor's `{value}` (CONTRACTS.md, model server). */
function toModelPrediction(answer: unknown): ModelPrediction | undefined {
  if (typeof answer !== 'object' || answer === null) return undefined;
  const { label, probabilities, value } = answer as Record<string, unknown>;
  if (typeof value === 'number') return Number.isFinite(value) ? { value } : undefined;
  if (typeof label !== 'string' || !Array.isArray(probabilities)) return undefined;
  return probabilities.every((p) => typeof p === 'number' && Number.isFinite(p))
    ? { label, probabilities: probabilities as number[] }
    : undefined;
}

/**
 * SageMaker runtime client with short connection and request timeouts and one SDK
 * retry: a hung endpoint must turn into a 503 well inside API Gateway's 29 s limit.
 */
export function createSageMakerRuntimeClient(
  tracer: Tracer,
  requestTimeoutMs: number,
): SageMakerRuntimeClient {
  return tracer.captureAWSv3Client(
    new SageMakerRuntimeClient({
      maxAttempts: 2,
      requestHandler: new NodeHttpHandler({ connectionTimeout: 1_000, requestTimeout: requestTimeoutMs }),
    }),
  );
}
