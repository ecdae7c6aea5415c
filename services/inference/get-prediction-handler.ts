import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { PredictionStore } from './adapters/predictions-table';
import { NotFoundError, ValidationError } from './errors';
import { callerOf } from './caller';
import { isPredictionId, toPredictionRecordAnswer, visibleTo } from './prediction';
import { logAndMap, type ApiHandler } from './http';
import { recordHandlerDepsFromEnv, type Env } from './runtime';

/** Everything `GET /predictions/{id}` talks to. */
export interface GetPredictionHandlerDeps {
  readonly store: PredictionStore;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/**
 * `GET /predictions/{id}`: the stored prediction in the vocabulary of `POST /predict`
 * ({@link toPredictionRecordAnswer}), 404 when absent, 400 for an id this
 * service never issues (refused before any table read). Only the caller that made an
 * API prediction may read it; everyone else gets the same 404 as for a missing id.
 */
export function createGetPredictionHandler(deps: GetPredictionHandlerDeps): ApiHandler {
  return async (event, context) => {
    if (context) deps.logger.addContext(context);
    try {
      const id = event.pathParameters?.id ?? '';
      if (!isPredictionId(id))
        throw new ValidationError('InvalidPredictionId', 'The prediction id is not a UUID.');
      const caller = callerOf(event);
      const item = await deps.store.get(id);
      // Another caller's prediction is answered exactly like a missing one: its existence is not shown.
      if (!item || !visibleTo(item, caller)) throw new NotFoundError();
      deps.metrics.addMetric('PredictionReads', MetricUnit.Count, 1);
      return {
        statusCode: 200,
        // Per-caller answer: no shared cache may keep it (API Gateway's cache cannot key on the caller).
        headers: { 'Content-Type': 'application/json', 'Cache-Control': 'private, no-store' },
        body: JSON.stringify(toPredictionRecordAnswer(item)),
      };
    } catch (error) {
      return logAndMap(error, deps.logger, deps.metrics);
    } finally {
      deps.metrics.publishStoredMetrics();
    }
  };
}

/** Production dependencies from the environment: `TABLE_NAME` (required). */
export function getPredictionDepsFromEnv(env: Env = process.env): GetPredictionHandlerDeps {
  return recordHandlerDepsFromEnv('get-prediction', env);
}

let production: ApiHandler | undefined;

/** Lambda entry point; the client is built on the first invocation and reused while warm. */
export const handler: ApiHandler = (event, context) => {
  production ??= createGetPredictionHandler(getPredictionDepsFromEnv());
  return production(event, context);
};
