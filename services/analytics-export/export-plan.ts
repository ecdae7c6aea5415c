import { toAnalyticsRecord, type AnalyticsItem, type AnalyticsRecord } from '../batch/analytics-schema';
import { partitionPath } from '../batch/naming';

/** What the exporter needs of one stream record: its sequence number and, for an INSERT, the new item. */
export interface StreamChange {
  readonly sequenceNumber: string;
  readonly eventName: string;
  /** The unmarshalled new image; undefined when the record carries none. */
  readonly newItem?: object;
}

/**
 * One line of the Glue `feedback` table: a prediction's true answer as its caller sent it
 * (POST /predictions/{id}/feedback), next to what was predicted, partitioned by when it arrived.
 */
export interface FeedbackRecord {
  readonly predictionId: string;
  /** When the prediction was made. */
  readonly timestamp: string;
  /** When the feedback arrived (the partition). */
  readonly receivedAt: string;
  readonly modelVersion: string;
  readonly invokedVariant: string;
  readonly source: string;
  readonly predictedLabel?: string;
  readonly predictedValue?: number;
  readonly trueLabel?: string;
  readonly trueValue?: number;
}

/** What becomes of one stream record. */
export type ChangeDecision =
  | { readonly kind: 'export'; readonly record: AnalyticsRecord }
  | { readonly kind: 'feedback'; readonly record: FeedbackRecord }
  | { readonly kind: 'skip'; readonly reason: 'not-insert' | 'batch-source' }
  | { readonly kind: 'invalid'; readonly reason: string };

/** One analytics object to write: every exported record of the batch that falls into one partition. */
export interface PartitionObject {
  /** `<prefix>dt=YYYY-MM-DD/hour=HH/stream-<first>-<last>.json`. */
  readonly key: string;
  /** Sequence numbers of the stream records whose lines it holds. */
  readonly sequenceNumbers: readonly string[];
  /** JSON lines, one {@link AnalyticsRecord} each, newline-terminated. */
  readonly body: string;
}

const isString = (value: unknown): value is string => typeof value === 'string' && value !== '';
const isNumberList = (value: unknown): value is number[] =>
  Array.isArray(value) && value.every((v) => typeof v === 'number' && Number.isFinite(v));
const SOURCES: readonly unknown[] = ['api', 'stream', 'batch', 'synthetic'];

/** Why `item` is no predictions-table item (CONTRACTS.md), or undefined when it is one. */
export function itemProblem(candidate: object): string | undefined {
  const item = candidate as Readonly<Record<string, unknown>>;
  for (const field of ['predictionId', 'timestamp', 'modelVersion', 'invokedVariant'] as const) {
    if (!isString(item[field])) return `${field} is not a non-empty string`;
  }
  if (Number.isNaN(Date.parse(item.timestamp as string))) return 'timestamp is not an ISO-8601 time';
  const prediction = item.prediction as Record<string, unknown> | undefined;
  if (typeof prediction !== 'object' || prediction === null) return 'prediction is missing';
  if ('value' in prediction) {
    // A regressor's answer: the value alone.
    if (typeof prediction.value !== 'number' || !Number.isFinite(prediction.value))
      return 'prediction.value is not a finite number';
  } else {
    if (!isString(prediction.label)) return 'prediction.label is missing';
    if (!isNumberList(prediction.probabilities)) return 'prediction.probabilities is not a number list';
  }
  if (!isNumberList(item.inputFeatures)) return 'inputFeatures is not a number list';
  if (typeof item.expirationTime !== 'number') return 'expirationTime is not a number';
  if (!SOURCES.includes(item.source)) return `source ${JSON.stringify(item.source)} is unknown`;
  if (item.requestId !== undefined && typeof item.requestId !== 'string') return 'requestId is not a string';
  return undefined;
}

/**
 * Decides what to do with one stream record: only INSERTs of `api`, `stream` and `synthetic`
 * predictions are exported (synthetic ones keep their source, so queries tell them apart); `batch`
 * ones are skipped because the scorer already writes them to the analytics prefix.
 */
export function decide(change: StreamChange): ChangeDecision {
  if (change.eventName === 'MODIFY' && change.newItem && 'feedback' in change.newItem) {
    return feedbackDecision(change.newItem);
  }
  if (change.eventName !== 'INSERT') return { kind: 'skip', reason: 'not-insert' };
  if (!change.newItem) return { kind: 'invalid', reason: 'INSERT without a NewImage' };
  const problem = itemProblem(change.newItem);
  if (problem) return { kind: 'invalid', reason: problem };
  const item = change.newItem as AnalyticsItem;
  if (item.source === 'batch') return { kind: 'skip', reason: 'batch-source' };
  return { kind: 'export', record: toAnalyticsRecord(item) };
}

/** A MODIFY that stored feedback: the feedback line, or why the item is not one. */
function feedbackDecision(newItem: object): ChangeDecision {
  const item = newItem as Readonly<Record<string, unknown>>;
  for (const field of ['predictionId', 'timestamp', 'modelVersion', 'invokedVariant', 'source'] as const) {
    if (!isString(item[field])) return { kind: 'invalid', reason: `${field} is not a non-empty string` };
  }
  const feedback = item.feedback as Record<string, unknown> | null;
  const prediction = (item.prediction ?? {}) as Record<string, unknown>;
  if (typeof feedback !== 'object' || feedback === null || !isString(feedback.receivedAt)) {
    return { kind: 'invalid', reason: 'feedback.receivedAt is missing' };
  }
  if (Number.isNaN(Date.parse(feedback.receivedAt)))
    return { kind: 'invalid', reason: 'feedback.receivedAt is not an ISO-8601 time' };
  const label = feedback.label;
  const value = feedback.value;
  if (!isString(label) && !(typeof value === 'number' && Number.isFinite(value))) {
    return { kind: 'invalid', reason: 'feedback has neither a label nor a value' };
  }
  return {
    kind: 'feedback',
    record: {
      predictionId: item.predictionId as string,
      timestamp: item.timestamp as string,
      receivedAt: feedback.receivedAt,
      modelVersion: item.modelVersion as string,
      invokedVariant: item.invokedVariant as string,
      source: item.source as string,
      ...(isString(prediction.label) ? { predictedLabel: prediction.label } : {}),
      ...(typeof prediction.value === 'number' ? { predictedValue: prediction.value } : {}),
      ...(isString(label) ? { trueLabel: label } : { trueValue: value as number }),
    },
  };
}

/**
 * Key of the object holding one partition's lines of one stream batch. It depends only on the
 * partition and the batch's first and last sequence numbers, so a retry of the same batch overwrites
 * the object instead of adding a second copy of its lines.
 */
export function partitionObjectKey(
  prefix: string,
  partition: string,
  firstSequenceNumber: string,
  lastSequenceNumber: string,
): string {
  const base = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
  return `${base}${partition}stream-${firstSequenceNumber}-${lastSequenceNumber}.json`;
}

/**
 * Groups a batch's exported records by the `dt=/hour=` partition of their own timestamp (UTC), in
 * stream order, one object per partition. An empty list when nothing is exported.
 */
export function partitionObjects(
  prefix: string,
  batchSequenceNumbers: readonly string[],
  exported: readonly {
    readonly sequenceNumber: string;
    readonly record: { readonly timestamp: string } | FeedbackRecord;
  }[],
): PartitionObject[] {
  if (exported.length === 0) return [];
  const first = batchSequenceNumbers[0]!;
  const last = batchSequenceNumbers[batchSequenceNumbers.length - 1]!;
  const groups = new Map<string, { sequenceNumbers: string[]; lines: string[] }>();
  for (const { sequenceNumber, record } of exported) {
    const partition = partitionPath('receivedAt' in record ? record.receivedAt : record.timestamp);
    const group = groups.get(partition) ?? { sequenceNumbers: [], lines: [] };
    group.sequenceNumbers.push(sequenceNumber);
    group.lines.push(JSON.stringify(record));
    groups.set(partition, group);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([partition, group]) => ({
      key: partitionObjectKey(prefix, partition, first, last),
      sequenceNumbers: group.sequenceNumbers,
      body: `${group.lines.join('\n')}\n`,
    }));
}
