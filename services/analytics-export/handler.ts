import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { createObservability, requiredEnv, type Env } from '../inference/runtime';
import { createS3ObjectWriter, type ObjectWriter } from './adapters/object-writer';
import {
  decide,
  partitionObjects,
  type ChangeDecision,
  type FeedbackRecord,
  type StreamChange,
} from './export-plan';
import type { AnalyticsRecord } from '../batch/analytics-schema';

/** Default prefix of the analytics bucket that the Glue `predictions` table covers. */
export const DEFAULT_ANALYTICS_PREFIX = 'analytics/predictions/';
/** Default prefix the Glue `feedback` table covers. */
export const DEFAULT_FEEDBACK_PREFIX = 'analytics/feedback/';

/** Structured log output; Powertools `Logger` satisfies it. */
export interface ExportLog {
  info(message: string, fields: Record<string, unknown>): void;
  error(message: string, fields: Record<string, unknown>): void;
}

/** EMF metrics; Powertools `Metrics` satisfies it. */
export interface ExportMetrics {
  addMetric(name: string, unit: (typeof MetricUnit)[keyof typeof MetricUnit], value: number): void;
  publishStoredMetrics(): void;
}

/** What the exporter runs on; tests inject a writer over s3rver. */
export interface ExportDeps {
  readonly writer: ObjectWriter;
  /** Key prefix of the Glue table's location. @default DEFAULT_ANALYTICS_PREFIX */
  readonly prefix?: string;
  /** Key prefix of the Glue `feedback` table's location. @default DEFAULT_FEEDBACK_PREFIX */
  readonly feedbackPrefix?: string;
  readonly log: ExportLog;
  readonly metrics: ExportMetrics;
}

/** DynamoDB-stream handler with a partial batch response (`ReportBatchItemFailures`). */
export type ExportHandler = (event: DynamoDBStreamEvent, context?: Context) => Promise<DynamoDBBatchResponse>;

const sequenceOf = (record: DynamoDBRecord): string => record.dynamodb?.SequenceNumber ?? '';

function toChange(record: DynamoDBRecord): StreamChange {
  const image = record.dynamodb?.NewImage;
  return {
    sequenceNumber: sequenceOf(record),
    eventName: record.eventName ?? '',
    // The Lambda event's attribute values have the SDK's wire shape.
    newItem: image ? unmarshall(image as Record<string, AttributeValue>) : undefined,
  };
}

/**
 * Builds the exporter: copies `api` and `stream` predictions inserted into the table to the
 * analytics prefix as JSON lines, one object per `dt=/hour=` partition per batch, keyed by the
 * batch's sequence-number range so a retried batch overwrites its objects.
 *
 * Failures never leave a line behind that a retry would write again: a record that is no
 * prediction item stops the batch there (it and everything after it are reported, the records
 * before it are written), and a failed write reports the whole batch, which the event source
 * mapping retries from the same first record.
 */
export function createExportHandler(deps: ExportDeps): ExportHandler {
  const processor = new BatchProcessor(EventType.DynamoDBStreams);
  const prefix = deps.prefix ?? DEFAULT_ANALYTICS_PREFIX;
  return async (event, context) => {
    try {
      const failures = await exportBatch(event.Records, prefix, deps);
      const check = async (record: DynamoDBRecord): Promise<void> => {
        const failure = failures.get(sequenceOf(record));
        if (failure) throw failure;
      };
      return await processPartialResponse(event, check, processor, {
        context,
        throwOnFullBatchFailure: false,
      });
    } finally {
      deps.metrics.publishStoredMetrics();
    }
  };
}

/** Writes what can be exported; the records to report as failed, by sequence number. */
async function exportBatch(
  records: readonly DynamoDBRecord[],
  prefix: string,
  deps: ExportDeps,
): Promise<Map<string, Error>> {
  const failures = new Map<string, Error>();
  const covered: string[] = [];
  const exported: { sequenceNumber: string; record: AnalyticsRecord }[] = [];
  const feedback: { sequenceNumber: string; record: FeedbackRecord }[] = [];
  let skipped = 0;
  for (const [index, record] of records.entries()) {
    let decision: ChangeDecision;
    try {
      decision = decide(toChange(record));
    } catch (error) {
      decision = { kind: 'invalid', reason: error instanceof Error ? error.message : String(error) };
    }
    if (decision.kind === 'invalid') {
      const stop = new Error(`Record ${sequenceOf(record)} is no prediction item: ${decision.reason}`);
      deps.log.error('Record is no prediction item; it and the rest of the batch are retried', {
        sequenceNumber: sequenceOf(record),
        reason: decision.reason,
      });
      deps.metrics.addMetric('InvalidRecords', MetricUnit.Count, 1);
      for (const rest of records.slice(index)) failures.set(sequenceOf(rest), stop);
      break;
    }
    covered.push(sequenceOf(record));
    if (decision.kind === 'skip') skipped += 1;
    else if (decision.kind === 'feedback')
      feedback.push({ sequenceNumber: sequenceOf(record), record: decision.record });
    else exported.push({ sequenceNumber: sequenceOf(record), record: decision.record });
  }
  const objects = [
    ...partitionObjects(prefix, covered, exported),
    ...partitionObjects(deps.feedbackPrefix ?? DEFAULT_FEEDBACK_PREFIX, covered, feedback),
  ];
  try {
    await Promise.all(objects.map((o) => deps.writer.putJsonLines(o.key, o.body)));
  } catch (error) {
    deps.log.error('Writing analytics objects failed; the batch is retried', { error });
    const retry = new Error('Writing analytics objects failed', { cause: error });
    for (const record of records) failures.set(sequenceOf(record), retry);
    return failures;
  }
  deps.metrics.addMetric('RecordsExported', MetricUnit.Count, exported.length);
  deps.metrics.addMetric('RecordsSkipped', MetricUnit.Count, skipped);
  deps.metrics.addMetric('FeedbackExported', MetricUnit.Count, feedback.length);
  deps.log.info('Exported predictions', {
    exported: exported.length,
    feedback: feedback.length,
    skipped,
    objects: objects.map((o) => o.key),
  });
  return failures;
}

/** Production dependencies from `ANALYTICS_BUCKET` (required) and `ANALYTICS_PREFIX` (`analytics/predictions/`). */
export function exportDepsFromEnv(env: Env = process.env): ExportDeps {
  const { logger, metrics, tracer } = createObservability('analytics-export');
  return {
    writer: createS3ObjectWriter(
      tracer.captureAWSv3Client(new S3Client({})),
      requiredEnv(env, 'ANALYTICS_BUCKET'),
    ),
    prefix: env.ANALYTICS_PREFIX?.trim() || DEFAULT_ANALYTICS_PREFIX,
    feedbackPrefix: env.FEEDBACK_PREFIX?.trim() || DEFAULT_FEEDBACK_PREFIX,
    log: logger,
    metrics,
  };
}

let production: ExportHandler | undefined;

/** Lambda entry point; dependencies are built on the first invocation and reused while warm. */
export const handler: ExportHandler = (event, context) => {
  production ??= createExportHandler(exportDepsFromEnv());
  return production(event, context);
};
