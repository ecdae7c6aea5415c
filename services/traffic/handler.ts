import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import * as path from 'node:path';
import { createApiClient } from '../smoke/http-client';
import {
  MAX_WINDOW_SECONDS,
  requestsForMinute,
  trafficConfigProblems,
  type RolloutTrafficConfig,
} from './config';
import { CloudWatchLabelledAnswers, type LabelledAnswers } from './adapters/labelled-answers';
import { CloudWatchOrganicRequests, type OrganicRequests } from './adapters/organic-requests';
import { loadRequestSet, REQUEST_SET_FILE, type RequestSet } from './request-set';
import { failureHint, type HintTarget } from './failure-hint';
import { sendPaced, type SendFeatures, type TrafficReport } from './source';

/**
 * What the rollout state machine sends with every bake: a lease of `windowSeconds` of traffic.
 * The source sends only within a lease, so it stops at most one window after the state machine
 * stops renewing it, whatever ended the execution (promotion, rollback, failure, abort, timeout).
 */
export interface TrafficLease {
  /** Length of this window; at most {@link MAX_WINDOW_SECONDS}. */
  readonly windowSeconds: number;
  /** Step being judged, for the log line. */
  readonly stepIndex?: number;
  /** The rollout execution that granted the lease, for the log line. */
  readonly executionId?: string;
}

export { MAX_WINDOW_SECONDS };

/** Everything the handler talks to; tests pass local implementations. */
export interface TrafficHandlerDeps {
  readonly config: RolloutTrafficConfig;
  readonly requests: RequestSet;
  readonly send: SendFeatures;
  /** Organic requests of the previous complete minute; used by `top-up` only. */
  readonly organic: OrganicRequests;
  /** Where the window's labelled and correct answers per variant go (the judge's accuracy evidence). */
  readonly answers: LabelledAnswers;
  readonly metrics: Pick<Metrics, 'addMetric' | 'addDimension' | 'publishStoredMetrics'>;
  readonly log: Pick<Logger, 'info'>;
  /** The API and signing region, named in the log's hint when no request of a window succeeded. */
  readonly target?: HintTarget;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** The window a lease buys: its `windowSeconds`, never more than {@link MAX_WINDOW_SECONDS}, 0 if malformed. */
export function leaseWindowSeconds(lease: Partial<TrafficLease> | undefined): number {
  const seconds = Number(lease?.windowSeconds);
  return Number.isFinite(seconds) ? Math.min(MAX_WINDOW_SECONDS, Math.max(0, seconds)) : 0;
}

/** One lease: how many requests the mode asks for, sent paced over the window. */
export function createTrafficHandler(
  deps: TrafficHandlerDeps,
): (lease: TrafficLease) => Promise<TrafficReport> {
  let offset = 0;
  return async (lease) => {
    const windowSeconds = leaseWindowSeconds(lease);
    const now = (deps.now ?? (() => new Date()))();
    const organic = deps.config.mode === 'top-up' ? await deps.organic.previousMinute(now) : undefined;
    const perMinute = requestsForMinute(deps.config, organic);
    const count = Math.round((perMinute * windowSeconds) / 60);
    const report = await sendPaced({
      requests: deps.requests.requests,
      count,
      windowMs: windowSeconds * 1000,
      send: deps.send,
      offset,
    });
    offset = (offset + report.sent) % deps.requests.requests.length;
    await deps.answers.publish(report.labelled, now);
    deps.metrics.addMetric('SyntheticRequestsSent', MetricUnit.Count, report.sent);
    deps.metrics.addMetric('SyntheticRequestsFailed', MetricUnit.Count, report.failed);
    deps.metrics.publishStoredMetrics();
    deps.log.info('traffic window', {
      mode: deps.config.mode,
      organicPreviousMinute: organic ?? null,
      planned: count,
      ...report,
      ...(report.sent > 0 && report.succeeded === 0
        ? { hint: failureHint(report.failures, deps.requests, deps.target ?? { apiUrl: 'the API' }) }
        : {}),
      stepIndex: lease?.stepIndex,
      executionId: lease?.executionId,
    });
    return report;
  };
}

/** Reads a required environment variable. */
function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`Environment variable ${name} must be set`);
  return value;
}

/**
 * Production dependencies from the environment: `API_URL`, `TRAFFIC_MODE`, `TRAFFIC_RATE`,
 * `TRAFFIC_FLOOR` (top-up), `TRAFFIC_LABELLED` (the labelled stream a minute), `ENDPOINT_NAME`, `VARIANT_NAMES` (comma-separated),
 * `METRIC_NAMESPACE`, `AWS_REGION`; the request set ships in the bundle as `requests.json`.
 */
export function trafficDepsFromEnv(env: NodeJS.ProcessEnv = process.env): TrafficHandlerDeps {
  const config: RolloutTrafficConfig = {
    mode: required(env, 'TRAFFIC_MODE') as RolloutTrafficConfig['mode'],
    requestsPerSecond: Number(required(env, 'TRAFFIC_RATE')),
    ...(env.TRAFFIC_FLOOR ? { floorRequestsPerMinute: Number(env.TRAFFIC_FLOOR) } : {}),
    ...(env.TRAFFIC_LABELLED ? { labelledRequestsPerMinute: Number(env.TRAFFIC_LABELLED) } : {}),
  };
  const problems = trafficConfigProblems(config);
  if (problems.length > 0) throw new Error(`Invalid traffic configuration: ${problems.join('; ')}`);
  const region = required(env, 'AWS_REGION');
  const apiUrl = required(env, 'API_URL');
  const client = createApiClient({
    apiUrl,
    signingRegion: region,
    timeoutMs: 10_000,
  });
  const metricNamespace = required(env, 'METRIC_NAMESPACE');
  const cloudwatch = new CloudWatchClient({ region });
  return {
    config,
    requests: loadRequestSet(env.REQUEST_SET_FILE ?? path.join(__dirname, REQUEST_SET_FILE)),
    send: (features) => client({ method: 'POST', path: '/predict', body: JSON.stringify({ features }) }),
    answers: new CloudWatchLabelledAnswers(cloudwatch, {
      endpointName: required(env, 'ENDPOINT_NAME'),
      metricNamespace,
      variantNames: required(env, 'VARIANT_NAMES').split(','),
    }),
    organic: new CloudWatchOrganicRequests(cloudwatch, {
      endpointName: required(env, 'ENDPOINT_NAME'),
      variantNames: required(env, 'VARIANT_NAMES').split(','),
      metricNamespace,
    }),
    metrics: new Metrics({ serviceName: 'rollout-traffic', namespace: metricNamespace }),
    log: new Logger({ serviceName: 'rollout-traffic' }),
    target: { apiUrl, signingRegion: region },
  };
}

let production: ((lease: TrafficLease) => Promise<TrafficReport>) | undefined;

/** Lambda entry point, invoked asynchronously by the rollout state machine once per bake. */
export const handler = (lease: TrafficLease): Promise<TrafficReport> => {
  production ??= createTrafficHandler(trafficDepsFromEnv());
  return production(lease);
};
