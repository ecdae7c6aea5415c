import type { PredictionItem } from './adapters/predictions-table';

/** A Glue column in Hive type syntax, the form `glue.CfnTable` and Athena DDL take. */
export interface GlueColumn {
  readonly name: string;
  readonly type: string;
  readonly comment?: string;
}

/**
 * Columns of the Glue `predictions` table (JSON SerDe), in the order the scorer writes them.
 * The CDK table is built from this list, and a test checks scorer output against it.
 */
export const predictionColumns: readonly GlueColumn[] = [
  { name: 'predictionid', type: 'string', comment: 'predictionId' },
  { name: 'timestamp', type: 'string', comment: 'ISO-8601 UTC time of the prediction' },
  { name: 'modelversion', type: 'string', comment: 'modelVersion, e.g. v1.0.0' },
  { name: 'invokedvariant', type: 'string', comment: 'SageMaker production variant' },
  {
    name: 'predictedlabel',
    type: 'string',
    comment: 'prediction.label (classifiers; absent for regressors)',
  },
  {
    name: 'probabilities',
    type: 'array<double>',
    comment: 'prediction.probabilities, in label order (classifiers; absent for regressors)',
  },
  {
    name: 'predictedvalue',
    type: 'double',
    comment: 'prediction.value (regressors; absent for classifiers)',
  },
  { name: 'inputfeatures', type: 'array<double>', comment: 'inputFeatures' },
  { name: 'expirationtime', type: 'bigint', comment: 'DynamoDB TTL, epoch seconds' },
  {
    name: 'source',
    type: 'string',
    comment: 'api | stream | batch | synthetic (rollout traffic source, smoke test: not users)',
  },
  { name: 'requestid', type: 'string', comment: 'requestId, absent when the caller sent none' },
  {
    name: 'modellatencyms',
    type: 'double',
    comment: 'round trip of the model call that scored the row (a batched call as a whole), ms',
  },
];

/** Partition columns, laid out as `dt=YYYY-MM-DD/hour=HH/` under the table location (UTC). */
export const partitionKeys: readonly GlueColumn[] = [
  { name: 'dt', type: 'string', comment: 'UTC date, YYYY-MM-DD' },
  { name: 'hour', type: 'string', comment: 'UTC hour, 00-23' },
];

/**
 * Partition projection parameters for the table (no crawler): `dt` as a date range and `hour` as
 * a zero-padded integer, matching {@link partitionKeys}.
 */
export const partitionProjection: Readonly<Record<string, string>> = {
  'projection.enabled': 'true',
  'projection.dt.type': 'date',
  'projection.dt.format': 'yyyy-MM-dd',
  'projection.dt.range': '2024-01-01,NOW',
  'projection.dt.interval': '1',
  'projection.dt.interval.unit': 'DAYS',
  'projection.hour.type': 'integer',
  'projection.hour.range': '0,23',
  'projection.hour.digits': '2',
};

/** A table item of either task: a classifier's `{label, probabilities}` or a regressor's `{value}`. */
export type AnalyticsItem = Omit<PredictionItem, 'prediction'> & {
  readonly prediction:
    { readonly label: string; readonly probabilities: readonly number[] } | { readonly value: number };
};

/**
 * One line of an analytics object: the table item with `prediction` flattened (CONTRACTS.md):
 * `predictedLabel` and `probabilities` for a classifier, `predictedValue` for a regressor.
 */
export interface AnalyticsRecord {
  readonly predictionId: string;
  readonly timestamp: string;
  readonly modelVersion: string;
  readonly invokedVariant: string;
  readonly predictedLabel?: string;
  readonly probabilities?: readonly number[];
  readonly predictedValue?: number;
  readonly inputFeatures: readonly number[];
  readonly expirationTime: number;
  readonly source: PredictionItem['source'];
  readonly requestId?: string;
  readonly modelLatencyMs?: number;
}

/**
 * Maps a table item to its analytics line. JSON keys keep the item's camelCase; the OpenX JSON SerDe
 * matches them to the lower-case Glue column names case-insensitively.
 */
export function toAnalyticsRecord(item: AnalyticsItem): AnalyticsRecord {
  const { prediction } = item;
  return {
    predictionId: item.predictionId,
    timestamp: item.timestamp,
    modelVersion: item.modelVersion,
    invokedVariant: item.invokedVariant,
    ...('value' in prediction
      ? { predictedValue: prediction.value }
      : { predictedLabel: prediction.label, probabilities: prediction.probabilities }),
    inputFeatures: item.inputFeatures,
    expirationTime: item.expirationTime,
    source: item.source,
    ...(item.requestId !== undefined ? { requestId: item.requestId } : {}),
    ...(item.modelLatencyMs !== undefined ? { modelLatencyMs: item.modelLatencyMs } : {}),
  };
}

/** `JSON.stringify(toAnalyticsRecord(item))` without the intermediate object: one line per scored row. */
export function analyticsLine(item: AnalyticsItem): string {
  const json = JSON.stringify;
  const { prediction } = item;
  let line =
    `{"predictionId":${json(item.predictionId)},"timestamp":${json(item.timestamp)},` +
    `"modelVersion":${json(item.modelVersion)},"invokedVariant":${json(item.invokedVariant)},` +
    ('value' in prediction
      ? `"predictedValue":${json(prediction.value)},`
      : `"predictedLabel":${json(prediction.label)},"probabilities":${json(prediction.probabilities)},`) +
    `"inputFeatures":${json(item.inputFeatures)},"expirationTime":${json(item.expirationTime)},` +
    `"source":${json(item.source)}`;
  if (item.requestId !== undefined) line += `,"requestId":${json(item.requestId)}`;
  if (item.modelLatencyMs !== undefined) line += `,"modelLatencyMs":${json(item.modelLatencyMs)}`;
  return `${line}}`;
}
