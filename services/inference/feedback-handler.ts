import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { FeedbackStore } from './adapters/predictions-table';
import { callerOf } from './caller';
import { NotFoundError, ValidationError } from './errors';
import { mayGiveFeedback, parseFeedback } from './feedback';
import { jsonHeaders, logAndMap, type ApiHandler } from './http';
import { isPredictionId } from './prediction';
import { recordHandlerDepsFromEnv, type Env } from './runtime';

/** Everything `POST /predictions/{id}/feedback` talks to. */
export interface FeedbackHandlerDeps {
  readonly store: FeedbackStore;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/**
 * `POST /predictions/{id}/feedback`: stores the true label (or value) with the prediction, for the
 * feedback quality job and analytics. Only the caller that made the prediction may send it; anyone
 * else gets the 404 of a missing id. A later feedback replaces an earlier one.
 */
export function createFeedbackHandler(deps: FeedbackHandlerDeps): ApiHandler {
  return async (event, context) => {
    if (context) deps.logger.addContext(context);
    try {
      const id = event.pathParameters?.id ?? '';
      if (!isPredictionId(id))
        throw new ValidationError('InvalidPredictionId', 'The prediction id is not a UUID.');
      const caller = callerOf(event);
      let body: unknown;
      try {
        body = JSON.parse(event.body ?? '');
      } catch {
        throw new ValidationError('InvalidJson', 'The body is not valid JSON.');
      }
      const item = await deps.store.get(id);
      if (!item || !mayGiveFeedback(item, caller)) throw new NotFoundError();
      const feedback = parseFeedback(body, item, (deps.now ?? (() => new Date()))());
      // The condition re-checks the owner in the write itself.
      if (!(await deps.store.setFeedback(id, caller, feedback))) throw new NotFoundError();
      deps.metrics.addMetric('FeedbackReceived', MetricUnit.Count, 1);
      return {
        statusCode: 200,
        headers: { ...jsonHeaders },
        body: JSON.stringify({ predictionId: id, modelVersion: item.modelVersion, feedback }),
      };
    } catch (error) {
      return logAndMap(error, deps.logger, deps.metrics);
    } finally {
      deps.metrics.publishStoredMetrics();
    }
  };
}

/** Production dependencies from the environment: `TABLE_NAME` (required). */
export function feedbackDepsFromEnv(env: Env = process.env): FeedbackHandlerDeps {
  return recordHandlerDepsFromEnv('feedback', env);
}

let production: ApiHandler | undefined;

/** Lambda entry point; the client is built on the first invocation and reused while warm. */
export const handler: ApiHandler = (event, context) => {
  production ??= createFeedbackHandler(feedbackDepsFromEnv());
  return production(event, context);
};
