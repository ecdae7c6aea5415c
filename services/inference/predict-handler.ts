import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { ModelParameters } from './adapters/model-parameters';
import type { PredictionStore } from './adapters/predictions-table';
import type { ModelEndpoint } from './adapters/sagemaker-endpoint';
import { apiNamespace, callerOf } from './caller';
import { ConflictError } from './errors';
import { jsonHeaders, logAndMap, type ApiHandler } from './http';
import {
  buildPredictionItem,
  newPredictionId,
  predictionIdForRequestId,
  sameFeatures,
  toPredictAnswer,
  type PredictAnswer,
  type PredictionItem,
} from './prediction';
import { createObservability, positiveIntEnv, type Env } from './runtime';
import { PREDICTIONS_BY_CLASS_METRIC } from '../rollout/quality-metrics';
import { scoringAdaptersFromEnv } from './scoring-adapters';
import { isSyntheticCaller, syntheticCallerRoles } from './synthetic';
import { validateContentType, validateRequest, type PredictRequest } from './validation';

/** Default body cap: a feature vector is tiny; anything near this size is abuse or a bug. */
export const DEFAULT_MAX_BODY_BYTES = 16_384;

/** Everything the predict handler talks to; tests inject local implementations. */
export interface PredictHandlerDeps {
  readonly model: ModelEndpoint;
  readonly store: PredictionStore;
  readonly parameters: ModelParameters;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** @default 30 */
  readonly ttlDays?: number;
  /** @default 16384 */
  readonly maxBodyBytes?: number;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** Role ARNs whose sessions are synthetic callers (traffic source, smoke test). @default none */
  readonly syntheticCallerRoleArns?: readonly string[];
  /**
   * The endpoint's name: with it every answer is counted per variant and predicted class
   * (`PredictionsByClass`), the rollout judge's distribution evidence. @default not counted
   */
  readonly endpointName?: string;
}

/**
 * `POST /predict`: validate against the deployed models' shared input schema, score, store
 * idempotently, answer `{predictionId, result, modelVersion, variant}`. Malformed
 * input is refused before anything is scored or written.
 */
export function createPredictHandler(deps: PredictHandlerDeps): ApiHandler {
  const { logger, metrics } = deps;
  return async (event, context) => {
    if (context) logger.addContext(context);
    try {
      const contentTypeError = validateContentType(header(event, 'content-type'));
      if (contentTypeError) throw contentTypeError;
      const { featureCount, versions, labels } = await deps.parameters.inputSchema();
      const validated = validateRequest(decodeBody(event), {
        featureCount,
        versions,
        maxBodyBytes: deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      });
      if (!validated.ok) throw validated.error;
      const synthetic = isSyntheticCaller(
        event.requestContext?.identity?.userArn,
        deps.syntheticCallerRoleArns ?? [],
      );
      const answer = await predict(validated.request, callerOf(event), deps, synthetic ? 'synthetic' : 'api');
      metrics.addMetric('Predictions', MetricUnit.Count, 1);
      // Its own series: the dashboard and the traffic-source alarm tell it apart from users.
      if (synthetic) metrics.addMetric('SyntheticPredictions', MetricUnit.Count, 1);
      if (deps.endpointName) countByClass(metrics, deps.endpointName, answer, labels ?? []);
      return { statusCode: 200, headers: jsonHeaders, body: JSON.stringify(answer) };
    } catch (error) {
      return logAndMap(error, logger, metrics);
    } finally {
      metrics.publishStoredMetrics();
    }
  };
}

/**
 * EMF datapoints per answer, by variant and class: 1 for the predicted class, 0 for every other label
 * of the active model, so a minute with answers has a datapoint for each class and a lost one is
 * told from a zero. The rollout judge compares the variants' predicted-class distributions
 * (services/rollout/evidence/quality.ts); users' and synthetic answers both count, since the split
 * between variants is random for both.
 */
function countByClass(
  metrics: Metrics,
  endpointName: string,
  answer: PredictAnswer,
  labels: readonly string[],
): void {
  // A regressor's value has no class; its distribution is not judged online (docs/ROLLOUT.md).
  if (!('label' in answer.result)) return;
  const predicted = answer.result.label;
  for (const label of new Set([predicted, ...labels])) {
    const perClass = metrics.singleMetric();
    perClass.addDimensions({
      EndpointName: endpointName,
      VariantName: answer.variant,
      PredictedClass: label,
    });
    perClass.addMetric(PREDICTIONS_BY_CLASS_METRIC, MetricUnit.Count, label === predicted ? 1 : 0);
  }
}

async function predict(
  request: PredictRequest,
  caller: string,
  deps: PredictHandlerDeps,
  source: 'api' | 'synthetic',
): Promise<PredictAnswer> {
  const { requestId, features } = request;
  const predictionId =
    requestId === undefined ? newPredictionId() : predictionIdForRequestId(apiNamespace(caller), requestId);
  // A retry answers from the table, even while the endpoint is down.
  const existing = requestId === undefined ? undefined : await deps.store.get(predictionId);
  if (existing) return replay(existing, features, deps.metrics);
  const scored = await deps.model.score([features]);
  const item = buildPredictionItem({
    predictionId,
    features,
    requestId,
    caller,
    prediction: scored.predictions[0]!,
    modelVersion: scored.modelVersion,
    invokedVariant: scored.variant,
    modelLatencyMs: scored.latencyMs,
    source,
    now: (deps.now ?? (() => new Date()))(),
    ttlDays: deps.ttlDays,
  });
  const stored = await deps.store.putIfAbsent(item);
  return stored.created ? toPredictAnswer(stored.item) : replay(stored.item, features, deps.metrics);
}

function replay(item: PredictionItem, features: readonly number[], metrics: Metrics): PredictAnswer {
  if (!sameFeatures(item, features)) throw new ConflictError();
  metrics.addMetric('IdempotentReplays', MetricUnit.Count, 1);
  return toPredictAnswer(item);
}

function decodeBody(event: APIGatewayProxyEvent): string | null {
  if (event.body === null || !event.isBase64Encoded) return event.body;
  return Buffer.from(event.body, 'base64').toString('utf8');
}

function header(event: APIGatewayProxyEvent, name: string): string | undefined {
  const entry = Object.entries(event.headers ?? {}).find(([key]) => key.toLowerCase() === name);
  return entry?.[1];
}

/**
 * Builds the production dependencies from the function's environment: `ENDPOINT_NAME`,
 * `TABLE_NAME`, `MODEL_PARAMETER_PREFIX` (required), `PREDICTION_TTL_DAYS` (30),
 * `MAX_BODY_BYTES` (16384), `PARAMETER_MAX_AGE_SECONDS` (60), `MODEL_TIMEOUT_MS` (5000),
 * `SYNTHETIC_CALLER_ROLE_ARNS` (none).
 */
export function predictDepsFromEnv(env: Env = process.env): PredictHandlerDeps {
  const { logger, metrics, tracer } = createObservability('predict');
  return {
    logger,
    metrics,
    ...scoringAdaptersFromEnv(env, tracer),
    ttlDays: positiveIntEnv(env, 'PREDICTION_TTL_DAYS', 30),
    maxBodyBytes: positiveIntEnv(env, 'MAX_BODY_BYTES', DEFAULT_MAX_BODY_BYTES),
    syntheticCallerRoleArns: syntheticCallerRoles(env.SYNTHETIC_CALLER_ROLE_ARNS),
    ...(env.ENDPOINT_NAME ? { endpointName: env.ENDPOINT_NAME } : {}),
  };
}

let production: ApiHandler | undefined;

/** Lambda entry point; dependencies are built on the first invocation and reused while warm. */
export const handler: ApiHandler = (event, context) => {
  production ??= createPredictHandler(predictDepsFromEnv());
  return production(event, context);
};
