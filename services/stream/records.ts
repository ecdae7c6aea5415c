import type { KinesisStreamRecord } from 'aws-lambda';
import type { ErrorBody } from '../inference/errors';
import {
  predictionIdForRequestId,
  predictionIdForStreamRecord,
  STREAM_NAMESPACE,
} from '../inference/prediction';
import { validateRequest, type FeatureShape, type PredictRequest } from '../inference/validation';

/** Kinesis caps a record at 1 MiB; validation refuses anything larger up front. */
const maxRecordBytes = 1024 * 1024;

/** A record that can be scored, with the predictionId every retry of it will use. */
export interface ValidRecord {
  readonly kind: 'valid';
  readonly record: KinesisStreamRecord;
  readonly request: PredictRequest;
  readonly predictionId: string;
}

/** A record that no retry can fix; it goes to the DLQ with its reason. */
export interface PoisonRecord {
  readonly kind: 'poison';
  readonly record: KinesisStreamRecord;
  readonly reason: ErrorBody['error'];
}

/**
 * Decodes and validates one Kinesis record with the same rules as `POST /predict`.
 * The predictionId comes from `requestId` (namespace `stream`) when present, else from the
 * payload, so redeliveries and producer retries of the record hit the same item.
 */
export function planRecord(record: KinesisStreamRecord, shape: FeatureShape): ValidRecord | PoisonRecord {
  const data = Buffer.from(record.kinesis.data, 'base64').toString('utf8');
  const validated = validateRequest(data, { ...shape, maxBodyBytes: maxRecordBytes });
  if (!validated.ok) {
    return {
      kind: 'poison',
      record,
      reason: { code: validated.error.code, message: validated.error.message },
    };
  }
  const { requestId } = validated.request;
  return {
    kind: 'valid',
    record,
    request: validated.request,
    predictionId:
      requestId === undefined
        ? predictionIdForStreamRecord(record.kinesis.data)
        : predictionIdForRequestId(STREAM_NAMESPACE, requestId),
  };
}

/** What the consumer puts on the DLQ for a poison record: enough to inspect and replay it. */
export interface PoisonRecordMessage {
  readonly type: 'PoisonRecord';
  readonly reason: ErrorBody['error'];
  readonly eventID: string;
  readonly eventSourceARN: string;
  readonly partitionKey: string;
  readonly sequenceNumber: string;
  readonly approximateArrivalTimestamp: number;
  /** The record's data, base64 as Kinesis delivered it; cut to fit SQS's 256 KiB message limit. */
  readonly data: string;
  readonly dataTruncated: boolean;
}

const maxDataChars = 200_000;

/** Builds the DLQ message for a poison record. */
export function toPoisonMessage(
  record: KinesisStreamRecord,
  reason: ErrorBody['error'],
): PoisonRecordMessage {
  const { data } = record.kinesis;
  return {
    type: 'PoisonRecord',
    reason,
    eventID: record.eventID,
    eventSourceARN: record.eventSourceARN,
    partitionKey: record.kinesis.partitionKey,
    sequenceNumber: record.kinesis.sequenceNumber,
    approximateArrivalTimestamp: record.kinesis.approximateArrivalTimestamp,
    data: data.slice(0, maxDataChars),
    dataTruncated: data.length > maxDataChars,
  };
}
