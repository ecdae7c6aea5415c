import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { SQSClient } from '@aws-sdk/client-sqs';
import type {
  Context,
  KinesisStreamEvent,
  KinesisStreamRecord,
  KinesisStreamBatchResponse,
} from 'aws-lambda';
import type { ModelParameters } from '../inference/adapters/model-parameters';
import type { PredictionStore } from '../inference/adapters/predictions-table';
import type { ModelEndpoint } from '../inference/adapters/sagemaker-endpoint';
import { UpstreamError, type ErrorBody } from '../inference/errors';
import { loggableError } from '../inference/log-safety';
import { buildPredictionItem, sameFeatures, type ModelPrediction } from '../inference/prediction';
import { createObservability, positiveIntEnv, requiredEnv, type Env } from '../inference/runtime';
import { scoringAdaptersFromEnv } from '../inference/scoring-adapters';
import { createDeadLetterQueue, type DeadLetterQueue } from './adapters/dead-letter-queue';
import { planRecord, toPoisonMessage, type ValidRecord } from './records';
import type { FeatureShape } from '../inference/validation';

/** Rows per InvokeEndpoint call; the model server accepts up to 1000, the ESM delivers at most 100. */
const scoringChunk = 100;

/** Everything the consumer talks to; tests inject local implementations. */
export interface ConsumerHandlerDeps {
  readonly model: ModelEndpoint;
  readonly store: PredictionStore;
  readonly parameters: ModelParameters;
  readonly deadLetters: DeadLetterQueue;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** @default 30 */
  readonly ttlDays?: number;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** Kinesis handler with a partial batch response (`ReportBatchItemFailures`). */
export type ConsumerHandler = (
  event: KinesisStreamEvent,
  context?: Context,
) => Promise<KinesisStreamBatchResponse>;

type Scored = {
  readonly prediction: ModelPrediction;
  readonly modelVersion: string;
  readonly variant: string;
  readonly latencyMs?: number;
};
type Step =
  | { readonly kind: 'store'; readonly planned: ValidRecord; readonly scored: Scored }
  | { readonly kind: 'retry'; readonly error: UpstreamError }
  | { readonly kind: 'poison'; readonly reason: ErrorBody['error'] };

/**
 * Scores a Kinesis batch and writes each prediction idempotently.
 *
 * - Valid records are scored in one InvokeEndpoint call; if that call fails because
 *   of the model (ModelError), the rows are bisected and re-scored so only the rows
 *   that really fail are retried. An unavailable endpoint fails every valid record at once.
 * - Transient failures (endpoint unavailable, model container errors) are reported as
 *   `batchItemFailures` (Powertools BatchProcessor); the ESM retries from the lowest one,
 *   bisecting, and finally sends the failed range to the on-failure destination (the same SQS queue).
 * - Permanent input errors (invalid records, numbers outside the feature-value rule, input the
 *   model refuses, a requestId reused with other features) are never retried: each goes to the
 *   DLQ at once with its payload and reason, also when it follows a failed record. Such a record
 *   is redelivered with the failed one, so its DLQ message is at least once: consumers of the queue
 *   deduplicate poison messages by `eventID` (CONTRACTS.md).
 */
export function createConsumerHandler(deps: ConsumerHandlerDeps): ConsumerHandler {
  const processor = new BatchProcessor(EventType.KinesisDataStreams);
  return async (event, context) => {
    if (context) deps.logger.addContext(context);
    try {
      const steps = await planSteps(event.Records, deps);
      const position = new Map(event.Records.map((record, index) => [record.kinesis.sequenceNumber, index]));
      const handleRecord = (record: KinesisStreamRecord): Promise<void> =>
        runStep(record, steps[position.get(record.kinesis.sequenceNumber)!]!, deps);
      return await processPartialResponse(event, handleRecord, processor, { context });
    } finally {
      deps.metrics.publishStoredMetrics();
    }
  };
}

async function planSteps(
  records: readonly KinesisStreamRecord[],
  deps: ConsumerHandlerDeps,
): Promise<Step[]> {
  let shape: FeatureShape;
  try {
    shape = await deps.parameters.inputSchema();
  } catch (error) {
    const retry = error instanceof UpstreamError ? error : new UpstreamError('unavailable', { cause: error });
    return records.map(() => ({ kind: 'retry', error: retry }));
  }
  const planned = records.map((record) => planRecord(record, shape));
  const valid = planned.filter((p): p is ValidRecord => p.kind === 'valid');
  const scores = await scoreAll(valid, deps.model);
  return planned.map((p): Step => {
    if (p.kind === 'poison') return { kind: 'poison', reason: p.reason };
    const score = scores.get(p)!;
    if (!(score instanceof UpstreamError)) return { kind: 'store', planned: p, scored: score };
    return score.kind === 'rejected'
      ? { kind: 'poison', reason: { code: score.code, message: score.message } }
      : { kind: 'retry', error: score };
  });
}

async function scoreAll(
  valid: readonly ValidRecord[],
  model: ModelEndpoint,
): Promise<Map<ValidRecord, Scored | UpstreamError>> {
  const scores = new Map<ValidRecord, Scored | UpstreamError>();
  const chunks = [];
  for (let start = 0; start < valid.length; start += scoringChunk)
    chunks.push(valid.slice(start, start + scoringChunk));
  await Promise.all(chunks.map((chunk) => scoreBisecting(chunk, model, scores)));
  return scores;
}

/**
 * Scores rows in one call; when the model fails on the call, scores each half
 * again, so k bad rows among n cost about 2k·log2(n) calls instead of n, and only
 * the bad rows end up failed. An unavailable endpoint fails the rows at once.
 */
async function scoreBisecting(
  chunk: readonly ValidRecord[],
  model: ModelEndpoint,
  scores: Map<ValidRecord, Scored | UpstreamError>,
): Promise<void> {
  try {
    const batch = await model.score(chunk.map((p) => p.request.features));
    chunk.forEach((p, i) => scores.set(p, { ...batch, prediction: batch.predictions[i]! }));
  } catch (error) {
    const failure = toUpstream(error);
    if (failure.kind === 'unavailable' || chunk.length === 1) {
      chunk.forEach((p) => scores.set(p, failure));
      return;
    }
    const middle = Math.ceil(chunk.length / 2);
    await Promise.all([
      scoreBisecting(chunk.slice(0, middle), model, scores),
      scoreBisecting(chunk.slice(middle), model, scores),
    ]);
  }
}

async function runStep(record: KinesisStreamRecord, step: Step, deps: ConsumerHandlerDeps): Promise<void> {
  if (step.kind === 'retry') {
    deps.metrics.addMetric('RetryableFailures', MetricUnit.Count, 1);
    deps.logger.warn('Record will be retried', {
      sequenceNumber: record.kinesis.sequenceNumber,
      error: loggableError(step.error),
    });
    throw step.error;
  }
  if (step.kind === 'store') {
    const { planned, scored } = step;
    const item = buildPredictionItem({
      predictionId: planned.predictionId,
      features: planned.request.features,
      requestId: planned.request.requestId,
      prediction: scored.prediction,
      modelVersion: scored.modelVersion,
      invokedVariant: scored.variant,
      modelLatencyMs: scored.latencyMs,
      source: 'stream',
      now: (deps.now ?? (() => new Date()))(),
      ttlDays: deps.ttlDays,
    });
    const stored = await deps.store.putIfAbsent(item);
    if (stored.created || sameFeatures(stored.item, planned.request.features)) {
      deps.metrics.addMetric(stored.created ? 'RecordsStored' : 'RecordsAlreadyStored', MetricUnit.Count, 1);
      return;
    }
    const reason = {
      code: 'RequestIdConflict',
      message: 'This requestId was already used with different features.',
    };
    return sendPoison(record, reason, deps);
  }
  return sendPoison(record, step.reason, deps);
}

async function sendPoison(
  record: KinesisStreamRecord,
  reason: ErrorBody['error'],
  deps: ConsumerHandlerDeps,
): Promise<void> {
  await deps.deadLetters.send(toPoisonMessage(record, reason));
  deps.metrics.addMetric('PoisonRecords', MetricUnit.Count, 1);
  deps.logger.warn('Poison record sent to the DLQ', {
    sequenceNumber: record.kinesis.sequenceNumber,
    reason,
  });
}

function toUpstream(error: unknown): UpstreamError {
  return error instanceof UpstreamError ? error : new UpstreamError('unavailable', { cause: error });
}

/**
 * Production dependencies from the environment: `ENDPOINT_NAME`, `TABLE_NAME`,
 * `MODEL_PARAMETER_PREFIX`, `DLQ_URL` (required), `PREDICTION_TTL_DAYS` (30),
 * `PARAMETER_MAX_AGE_SECONDS` (60), `MODEL_TIMEOUT_MS` (5000).
 */
export function consumerDepsFromEnv(env: Env = process.env): ConsumerHandlerDeps {
  const { logger, metrics, tracer } = createObservability('stream-consumer');
  return {
    logger,
    metrics,
    ...scoringAdaptersFromEnv(env, tracer),
    deadLetters: createDeadLetterQueue({
      client: tracer.captureAWSv3Client(new SQSClient({})),
      queueUrl: requiredEnv(env, 'DLQ_URL'),
    }),
    ttlDays: positiveIntEnv(env, 'PREDICTION_TTL_DAYS', 30),
  };
}

let production: ConsumerHandler | undefined;

/** Lambda entry point; dependencies are built on the first invocation and reused while warm. */
export const handler: ConsumerHandler = (event, context) => {
  production ??= createConsumerHandler(consumerDepsFromEnv());
  return production(event, context);
};
