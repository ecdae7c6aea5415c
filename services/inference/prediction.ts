import { createHash, randomUUID } from 'node:crypto';

/** Days a stored prediction lives before DynamoDB's TTL removes it (CONTRACTS.md). */
export const DEFAULT_PREDICTION_TTL_DAYS = 30;

const secondsPerDay = 86_400;
const predictionIdPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Where a prediction came from; the analytics table partitions on it. `synthetic`: a POST /predict
 * by the rollout traffic source or the smoke test (services/inference/synthetic.ts), not a user.
 */
export type PredictionSource = 'api' | 'stream' | 'batch' | 'synthetic';

/** A classifier's answer for one row: the most probable label and one probability per label. */
export interface ClassPrediction {
  readonly label: string;
  readonly probabilities: readonly number[];
}

/** A regressor's answer for one row. */
export interface ValuePrediction {
  readonly value: number;
}

/** One row's answer from the model server, by the deployed model's task; discriminate with `'value' in p`. */
export type ModelPrediction = ClassPrediction | ValuePrediction;

/** A copy of a prediction with exactly its task's fields (nothing else the server sent is stored). */
export function copyPrediction(prediction: ModelPrediction): ModelPrediction {
  return 'value' in prediction
    ? { value: prediction.value }
    : { label: prediction.label, probabilities: [...prediction.probabilities] };
}

/** The predictions-table item, exactly the shape CONTRACTS.md fixes. */
export interface PredictionItem {
  readonly predictionId: string;
  readonly timestamp: string;
  readonly modelVersion: string;
  readonly invokedVariant: string;
  readonly prediction: ModelPrediction;
  readonly inputFeatures: readonly number[];
  readonly expirationTime: number;
  readonly source: PredictionSource;
  readonly requestId?: string;
  /** Round trip of the model call that scored it (the whole call for a batched call), ms. */
  readonly modelLatencyMs?: number;
  /** The API caller's principal (see `callerOf`); only its owner may read an `api` item. */
  readonly caller?: string;
  /** The true answer, sent later by the caller that owns the prediction (services/inference/feedback.ts). */
  readonly feedback?: Feedback;
}

/** Ground truth for a prediction: the true label (classification) or value (regression). */
export type Feedback =
  | { readonly label: string; readonly receivedAt: string }
  | { readonly value: number; readonly receivedAt: string };

/** What `POST /predict` answers. */
export interface PredictAnswer {
  readonly predictionId: string;
  readonly result: ModelPrediction;
  readonly modelVersion: string;
  readonly variant: string;
}

/** RequestId namespace of stream records (no caller identity travels with a Kinesis record). */
export const STREAM_NAMESPACE = 'stream';

/** RequestId namespace of batch input lines (services/batch mirrors it in `predictionIdFor`). */
export const BATCH_NAMESPACE = 'batch';

/**
 * The predictionId for a caller-supplied requestId within its namespace (CONTRACTS.md "Prediction
 * ids"): `iam:<principal>` for the API, `stream`, `batch`. A retry of the same request by the same
 * caller lands on the same key, so the conditional write makes it idempotent; the same requestId
 * from another caller is another prediction, which it can neither read nor block.
 */
export function predictionIdForRequestId(namespace: string, requestId: string): string {
  return uuidFromKey(`requestId:${namespace}\n${requestId}`);
}

/**
 * The predictionId for a stream record without requestId, from its payload (the record's data as
 * Kinesis delivers it, base64): the one thing a producer's retry of PutRecord shares with the first
 * attempt (a retry gets a new sequence number, and producers may pick a new partition key). Two
 * records with the same bytes and no requestId are one request; a producer that means two sends
 * requestIds.
 */
export function predictionIdForStreamRecord(data: string): string {
  return uuidFromKey(`kinesis-payload:${data}`);
}

/** A fresh id for an API request without requestId (nothing to be idempotent about). */
export function newPredictionId(): string {
  return randomUUID();
}

/** True for ids this service issues; lets `GET /predictions/{id}` refuse garbage before a table read. */
export function isPredictionId(value: string): boolean {
  return predictionIdPattern.test(value);
}

/** Inputs of {@link buildPredictionItem}. */
export interface PredictionInput {
  readonly predictionId: string;
  readonly features: readonly number[];
  readonly prediction: ModelPrediction;
  readonly modelVersion: string;
  readonly invokedVariant: string;
  readonly source: PredictionSource;
  readonly now: Date;
  readonly requestId?: string;
  /** The API caller's principal. @default - none (stream and batch) */
  readonly caller?: string;
  /** Round trip of the model call, ms. @default - not recorded */
  readonly modelLatencyMs?: number;
  /** @default 30 */
  readonly ttlDays?: number;
}

/**
 * Builds the stored item with its TTL (`expirationTime`, epoch seconds, `ttlDays`
 * after `timestamp`), omitting `requestId` when there is none so no empty
 * attribute is written.
 */
export function buildPredictionItem(input: PredictionInput): PredictionItem {
  const ttlDays = input.ttlDays ?? DEFAULT_PREDICTION_TTL_DAYS;
  const item: PredictionItem = {
    predictionId: input.predictionId,
    timestamp: input.now.toISOString(),
    modelVersion: input.modelVersion,
    invokedVariant: input.invokedVariant,
    prediction: copyPrediction(input.prediction),
    inputFeatures: [...input.features],
    expirationTime: Math.floor(input.now.getTime() / 1000) + ttlDays * secondsPerDay,
    source: input.source,
    ...(input.modelLatencyMs !== undefined ? { modelLatencyMs: roundMs(input.modelLatencyMs) } : {}),
    ...(input.caller !== undefined ? { caller: input.caller } : {}),
  };
  return input.requestId === undefined ? item : { ...item, requestId: input.requestId };
}

/** Milliseconds to one decimal: enough for latency analytics, no float noise in the table. */
export function roundMs(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** The API answer for a stored item (also for an idempotent replay). */
export function toPredictAnswer(item: PredictionItem): PredictAnswer {
  return {
    predictionId: item.predictionId,
    result: item.prediction,
    modelVersion: item.modelVersion,
    variant: item.invokedVariant,
  };
}

/**
 * True when `caller` may see the item: an API prediction only by the principal that made it;
 * stream and batch predictions (no caller) by any caller the API's IAM policy admits.
 */
export function visibleTo(item: PredictionItem, caller: string): boolean {
  return item.caller === undefined ? item.source !== 'api' : item.caller === caller;
}

/**
 * What `GET /predictions/{id}` answers: the `POST /predict` answer's fields under the same names,
 * plus what the stored record adds. The table's own names (`prediction`, `invokedVariant`,
 * `inputFeatures`) stay internal (CONTRACTS.md).
 */
export interface PredictionRecordAnswer extends PredictAnswer {
  /** The features that were scored, as the request sent them. */
  readonly features: readonly number[];
  readonly source: PredictionSource;
  /** When it was scored (ISO-8601). */
  readonly timestamp: string;
  /** When the table's TTL removes it (epoch seconds). */
  readonly expirationTime: number;
  readonly requestId?: string;
}

/** The `GET /predictions/{id}` answer for a stored item. */
export function toPredictionRecordAnswer(item: PredictionItem): PredictionRecordAnswer {
  return {
    ...toPredictAnswer(item),
    features: item.inputFeatures,
    source: item.source,
    timestamp: item.timestamp,
    expirationTime: item.expirationTime,
    ...(item.requestId !== undefined ? { requestId: item.requestId } : {}),
  };
}

/** True when a stored item was made from these features (a genuine retry, not a reused requestId). */
export function sameFeatures(item: PredictionItem, features: readonly number[]): boolean {
  return (
    item.inputFeatures.length === features.length &&
    item.inputFeatures.every((value, index) => value === features[index])
  );
}

/** Hash-based UUID (RFC 9562 version 8) so ids look like the random ones and sort no differently. */
function uuidFromKey(key: string): string {
  const bytes = createHash('sha256').update(key, 'utf8').digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
