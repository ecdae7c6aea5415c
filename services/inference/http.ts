import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { DomainError, toErrorResponse } from './errors';
import { loggableError } from './log-safety';

/** API Gateway REST (proxy integration) handler, as both API functions export it. */
export type ApiHandler = (event: APIGatewayProxyEvent, context?: Context) => Promise<APIGatewayProxyResult>;

/** Headers of every JSON answer; `no-store` unless a handler opts into caching. */
export const jsonHeaders: Readonly<Record<string, string>> = {
  'Content-Type': 'application/json',
  'Cache-Control': 'no-store',
};

/**
 * Logs a refusal or failure once (with the cause for 5xx, which never reaches the
 * caller), counts it, and answers the safe error body.
 */
export function logAndMap(error: unknown, logger: Logger, metrics: Metrics): APIGatewayProxyResult {
  const response = toErrorResponse(error);
  if (response.statusCode < 500) {
    metrics.addMetric('RejectedRequests', MetricUnit.Count, 1);
    logger.info('Request refused', { statusCode: response.statusCode, code: (error as DomainError).code });
  } else {
    metrics.addMetric(
      error instanceof DomainError ? 'UpstreamFailures' : 'InternalErrors',
      MetricUnit.Count,
      1,
    );
    logger.error('Request failed', { statusCode: response.statusCode, error: loggableError(error) });
  }
  return { ...response };
}
