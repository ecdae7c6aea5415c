import { randomUUID } from 'node:crypto';
import type { KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';

/**
 * A small model of Lambda's Kinesis event source mapping, faithful to the
 * documented behaviour the consumer relies on (services-kinesis-batchfailurereporting,
 * kinesis-on-failure-destination):
 *
 * - records are delivered in shard order, `batchSize` at a time;
 * - an empty `batchItemFailures` is success; a partial response retries from the
 *   lowest reported sequence number to the end of the batch (with
 *   BisectBatchOnFunctionError, "bisected at the returned sequence number");
 * - a thrown error, or an unknown/empty itemIdentifier, fails the whole batch,
 *   which is split in two before retrying when `bisectOnError` is set;
 * - after `maxRetryAttempts` retries of a batch (halves inherit the count, so a
 *   bisected batch is not retried forever), the batch's metadata (not its
 *   payload) goes to the on-failure destination and the ESM moves on.
 */

/** Settings of the mapping, as the construct configures them. */
export interface EventSourceMappingOptions {
  /** @default 100 */
  readonly batchSize?: number;
  /** @default 3 */
  readonly maxRetryAttempts?: number;
  /** @default true */
  readonly bisectOnError?: boolean;
  readonly streamArn: string;
  /** The on-failure destination: receives the ESM's failure record as a JSON string. */
  readonly onFailure: (message: string) => Promise<void>;
}

/** What a run did. */
export interface EventSourceMappingRun {
  readonly invocations: number;
  readonly failureRecordsSent: number;
}

/** The on-failure destination record for a Kinesis source, as Lambda sends it. */
export interface KinesisFailureRecord {
  readonly requestContext: {
    readonly requestId: string;
    readonly functionArn: string;
    readonly condition: 'RetryAttemptsExhausted';
    readonly approximateInvokeCount: number;
  };
  readonly responseContext: {
    readonly statusCode: number;
    readonly executedVersion: string;
    readonly functionError?: string;
  };
  readonly version: '1.0';
  readonly timestamp: string;
  readonly KinesisBatchInfo: {
    readonly shardId: string;
    readonly startSequenceNumber: string;
    readonly endSequenceNumber: string;
    readonly approximateArrivalOfFirstRecord: string;
    readonly approximateArrivalOfLastRecord: string;
    readonly batchSize: number;
    readonly streamArn: string;
  };
}

type Handler = (event: KinesisStreamEvent) => Promise<KinesisStreamBatchResponse | void>;
interface PendingBatch {
  readonly records: readonly KinesisStreamRecord[];
  readonly attempt: number;
}

/** Feeds `records` (one shard, in order) through `handler` until every record is processed or discarded. */
export async function runEventSourceMapping(
  records: readonly KinesisStreamRecord[],
  handler: Handler,
  options: EventSourceMappingOptions,
): Promise<EventSourceMappingRun> {
  const batchSize = options.batchSize ?? 100;
  const maxRetryAttempts = options.maxRetryAttempts ?? 3;
  const bisect = options.bisectOnError ?? true;
  let invocations = 0;
  let failureRecordsSent = 0;

  for (let start = 0; start < records.length; start += batchSize) {
    const queue: PendingBatch[] = [{ records: records.slice(start, start + batchSize), attempt: 0 }];
    while (queue.length > 0) {
      const batch = queue.shift()!;
      invocations++;
      const outcome = await invoke(handler, batch.records);
      if (outcome.kind === 'success') continue;
      const failed = outcome.kind === 'partial' ? batch.records.slice(outcome.checkpoint) : batch.records;
      if (batch.attempt >= maxRetryAttempts) {
        failureRecordsSent++;
        await options.onFailure(
          JSON.stringify(failureRecord(failed, batch.attempt + 1, outcome.kind, options.streamArn)),
        );
      } else if (outcome.kind === 'error' && bisect && failed.length > 1) {
        const middle = Math.ceil(failed.length / 2);
        queue.unshift(
          { records: failed.slice(0, middle), attempt: batch.attempt + 1 },
          { records: failed.slice(middle), attempt: batch.attempt + 1 },
        );
      } else {
        queue.unshift({ records: failed, attempt: batch.attempt + 1 });
      }
    }
  }
  return { invocations, failureRecordsSent };
}

type Outcome = { kind: 'success' } | { kind: 'partial'; checkpoint: number } | { kind: 'error' };

async function invoke(handler: Handler, records: readonly KinesisStreamRecord[]): Promise<Outcome> {
  let response: KinesisStreamBatchResponse | void;
  try {
    response = await handler({ Records: [...records] });
  } catch {
    return { kind: 'error' };
  }
  const failures = response?.batchItemFailures ?? [];
  if (failures.length === 0) return { kind: 'success' };
  const positions = failures.map((f) =>
    records.findIndex((r) => r.kinesis.sequenceNumber === f.itemIdentifier),
  );
  if (positions.some((p) => p < 0)) return { kind: 'error' };
  return { kind: 'partial', checkpoint: Math.min(...positions) };
}

function failureRecord(
  records: readonly KinesisStreamRecord[],
  invokeCount: number,
  kind: 'partial' | 'error',
  streamArn: string,
): KinesisFailureRecord {
  const first = records[0]!;
  const last = records[records.length - 1]!;
  return {
    requestContext: {
      requestId: randomUUID(),
      functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:consumer',
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: invokeCount,
    },
    responseContext: {
      statusCode: 200,
      executedVersion: '$LATEST',
      ...(kind === 'error' ? { functionError: 'Unhandled' } : {}),
    },
    version: '1.0',
    timestamp: new Date().toISOString(),
    KinesisBatchInfo: {
      shardId: first.eventID.split(':')[0]!,
      startSequenceNumber: first.kinesis.sequenceNumber,
      endSequenceNumber: last.kinesis.sequenceNumber,
      approximateArrivalOfFirstRecord: new Date(
        first.kinesis.approximateArrivalTimestamp * 1000,
      ).toISOString(),
      approximateArrivalOfLastRecord: new Date(last.kinesis.approximateArrivalTimestamp * 1000).toISOString(),
      batchSize: records.length,
      streamArn,
    },
  };
}
