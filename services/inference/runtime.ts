import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  createPredictionStore,
  type FeedbackStore,
  type PredictionStore,
} from './adapters/predictions-table';

/**
 * Cold-start plumbing shared by the inference and stream functions: environment
 * parsing that fails at init with the variable's name, Powertools instances and
 * AWS clients. Endpoints are never overridden here: locally, the SDK's own
 * `AWS_ENDPOINT_URL_<SERVICE>` variables point the clients at stand-ins.
 */

/** Environment variables as Lambda passes them. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Reads a variable the function cannot run without. */
export function requiredEnv(env: Env, name: string): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') throw new Error(`Environment variable ${name} must be set`);
  return value;
}

/** Reads an optional positive integer variable, refusing values that would silently misconfigure. */
export function positiveIntEnv(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0)
    throw new Error(`Environment variable ${name} must be a positive integer`);
  return value;
}

/** Logger, EMF metrics and tracer for one function; service and namespace come from POWERTOOLS_* variables. */
export interface Observability {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly tracer: Tracer;
}

/** Builds {@link Observability} with defaults that keep metrics in one namespace across functions. */
export function createObservability(serviceName: string): Observability {
  return {
    logger: new Logger({ serviceName }),
    metrics: new Metrics({
      serviceName,
      namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'MlInference',
    }),
    tracer: new Tracer({ serviceName }),
  };
}

/** DynamoDB document client that drops undefined attributes (an absent requestId is not written). */
export function createDocumentClient(tracer: Tracer): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(tracer.captureAWSv3Client(new DynamoDBClient({})), {
    marshallOptions: { removeUndefinedValues: true },
  });
}

/** Logger, metrics and the predictions table named by `TABLE_NAME` (required): what the record handlers use. */
export function recordHandlerDepsFromEnv(
  serviceName: string,
  env: Env,
): Pick<Observability, 'logger' | 'metrics'> & { readonly store: PredictionStore & FeedbackStore } {
  const { logger, metrics, tracer } = createObservability(serviceName);
  return {
    logger,
    metrics,
    store: createPredictionStore({
      client: createDocumentClient(tracer),
      tableName: requiredEnv(env, 'TABLE_NAME'),
    }),
  };
}
