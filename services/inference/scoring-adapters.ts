import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import { SSMClient } from '@aws-sdk/client-ssm';
import { createModelParameters, type ModelParameters } from './adapters/model-parameters';
import { createPredictionStore, type PredictionStore } from './adapters/predictions-table';
import {
  createSageMakerEndpoint,
  createSageMakerRuntimeClient,
  type ModelEndpoint,
} from './adapters/sagemaker-endpoint';
import { createDocumentClient, positiveIntEnv, requiredEnv, type Env } from './runtime';

/** What every scoring path (API and stream) talks to: the endpoint, the table, the model registry. */
export interface ScoringAdapters {
  readonly model: ModelEndpoint;
  readonly store: PredictionStore;
  readonly parameters: ModelParameters;
}

/**
 * Builds the scoring adapters once per execution environment from `ENDPOINT_NAME`, `TABLE_NAME`,
 * `MODEL_PARAMETER_PREFIX` (required), `PARAMETER_MAX_AGE_SECONDS` (60) and `MODEL_TIMEOUT_MS`
 * (5000), with every client traced.
 */
export function scoringAdaptersFromEnv(env: Env, tracer: Tracer): ScoringAdapters {
  return {
    model: createSageMakerEndpoint({
      client: createSageMakerRuntimeClient(tracer, positiveIntEnv(env, 'MODEL_TIMEOUT_MS', 5_000)),
      endpointName: requiredEnv(env, 'ENDPOINT_NAME'),
    }),
    store: createPredictionStore({
      client: createDocumentClient(tracer),
      tableName: requiredEnv(env, 'TABLE_NAME'),
    }),
    parameters: createModelParameters({
      provider: new SSMProvider({ awsSdkV3Client: tracer.captureAWSv3Client(new SSMClient({})) }),
      prefix: requiredEnv(env, 'MODEL_PARAMETER_PREFIX'),
      maxAgeSeconds: positiveIntEnv(env, 'PARAMETER_MAX_AGE_SECONDS', 60),
    }),
  };
}
