import {
  analyticsLine,
  partitionKeys,
  predictionColumns,
  partitionProjection,
  toAnalyticsRecord,
} from '../../services/batch/analytics-schema';
import type { PredictionItem } from '../../services/batch/adapters/predictions-table';
import type { ModelEndpoint } from '../../services/batch/adapters/model-endpoint';
import type { BatchConfig } from '../../services/batch/config';
import { LINES_PER_PART } from '../../services/batch/naming';
import { runScorer } from '../../services/batch/scorer';
import { memoryStore, memoryTable } from './support/memory';

const config: BatchConfig = {
  batchBucket: 'batch',
  analyticsBucket: 'analytics',
  analyticsPrefix: 'analytics/predictions/',
  tableName: 'predictions',
  endpointName: 'endpoint',
  batchSize: 10,
  maxObjects: 10,
  maxObjectBytes: 1 << 20,
  writeConcurrency: 4,
  scoreConcurrency: 2,
  progressIntervalSeconds: 60,
};

const endpoint: ModelEndpoint = {
  score: async (rows) => ({
    modelVersion: 'v1.1.0',
    variant: 'VariantB',
    predictions: rows.map(() => ({ label: 'virginica', probabilities: [0.01, 0.09, 0.9] })),
  }),
};

/** Whether a JSON value can be read by the OpenX JSON SerDe as the given Hive type. */
function matchesHiveType(value: unknown, type: string): boolean {
  const array = /^array<(.+)>$/.exec(type);
  if (array) return Array.isArray(value) && value.every((v) => matchesHiveType(v, array[1]));
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'bigint':
    case 'int':
      return Number.isSafeInteger(value);
    case 'double':
      return typeof value === 'number' && Number.isFinite(value);
    default:
      throw new Error(`no check for Hive type ${type}`);
  }
}

test('every analytics line the scorer writes fits the Glue columns and types, under Glue partitions', async () => {
  const store = memoryStore();
  const lines = [
    JSON.stringify({ features: [6.3, 3.3, 6.0, 2.5], requestId: 'req-1' }),
    JSON.stringify({ features: [5.1, 3.5, 1.4, 0.2] }),
  ];
  await store.putText('batch', 'pending/in.jsonl', lines.join('\n'), 'application/x-ndjson');
  await runScorer(config, {
    store,
    table: memoryTable(),
    endpoint,
    log: { info: () => undefined, warn: () => undefined },
    now: () => new Date('2026-11-20T07:45:00.000Z'),
  });

  const outputs = [...store.objects.entries()].filter(([k]) => k.startsWith('analytics/'));
  expect(outputs).toHaveLength(1);
  const [path, body] = outputs[0];
  const partitions = /^analytics\/analytics\/predictions\/([^/]+)\/([^/]+)\/[^/]+\.json$/.exec(path);
  expect(partitions?.slice(1)).toEqual(['dt=2026-11-20', 'hour=07']);
  expect(partitionKeys.map((p) => p.name)).toEqual(['dt', 'hour']);

  const columns = new Map(predictionColumns.map((c) => [c.name, c.type]));
  const records = body
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(records).toHaveLength(2);
  for (const record of records) {
    for (const [key, value] of Object.entries(record)) {
      const type = columns.get(key.toLowerCase());
      expect([key, type !== undefined]).toEqual([key, true]);
      expect([key, matchesHiveType(value, type!)]).toEqual([key, true]);
    }
    const present = Object.keys(record).map((k) => k.toLowerCase());
    const optional = [
      // A classifier's line; a regressor's lacks predictedlabel and probabilities instead.
      ...(record.predictedValue === undefined ? ['predictedvalue'] : []),
      ...(record.requestId === undefined ? ['requestid'] : []),
      ...(record.modelLatencyMs === undefined ? ['modellatencyms'] : []),
    ];
    expect([...columns.keys()].filter((c) => !present.includes(c))).toEqual(optional);
  }
  expect(records.find((r) => r.requestId === 'req-1')).toMatchObject({
    modelVersion: 'v1.1.0',
    invokedVariant: 'VariantB',
    predictedLabel: 'virginica',
    source: 'batch',
    timestamp: '2026-11-20T07:45:00.000Z',
  });
});

test("a regressor's line has predictedValue where a classifier's has predictedLabel and probabilities", () => {
  const columns = new Map(predictionColumns.map((c) => [c.name, c.type]));
  const record = JSON.parse(
    analyticsLine({
      predictionId: '0f8c6a4e-1b2c-8d3e-9f40-123456789abd',
      timestamp: '2026-11-20T07:45:00.000Z',
      modelVersion: 'v2.0.0',
      invokedVariant: 'VariantA',
      prediction: { value: 182.5 },
      inputFeatures: [1, 2, 3, 4, 5, 6, 7, 8],
      expirationTime: 1766216700,
      source: 'api',
    }),
  ) as Record<string, unknown>;
  expect(record).toMatchObject({ predictedValue: 182.5 });
  expect(record).not.toHaveProperty('predictedLabel');
  expect(record).not.toHaveProperty('probabilities');
  for (const [key, value] of Object.entries(record)) {
    expect([key, matchesHiveType(value, columns.get(key.toLowerCase()) ?? 'unknown-column')]).toEqual([
      key,
      true,
    ]);
  }
});

test('column names are unique lower-case Hive identifiers and partitions are projected', () => {
  const names = [...predictionColumns, ...partitionKeys].map((c) => c.name);
  expect(new Set(names).size).toBe(names.length);
  expect(names.every((n) => /^[a-z_][a-z0-9_]*$/.test(n))).toBe(true);
  expect(partitionProjection['projection.hour.digits']).toBe('2');
  expect(partitionProjection['projection.dt.format']).toBe('yyyy-MM-dd');
});

test('analyticsLine writes exactly JSON.stringify(toAnalyticsRecord(item)), optional fields included or not', () => {
  const item: PredictionItem = {
    predictionId: '0f8c6a4e-1b2c-8d3e-9f40-123456789abc',
    timestamp: '2026-11-20T07:45:00.000Z',
    modelVersion: 'v1.0.0',
    invokedVariant: 'VariantA',
    prediction: { label: 'se"tosa\n', probabilities: [0.97, 0.02, 0.01] },
    inputFeatures: [5.1, -0, 1e-30, 9007199254740991],
    expirationTime: 1766216700,
    source: 'batch',
  };
  for (const variant of [
    item,
    { ...item, requestId: 'r-1' },
    { ...item, requestId: 'r-2', modelLatencyMs: 1.5 },
    { ...item, prediction: { value: -12.25 } },
    { ...item, prediction: { value: 3e-7 }, requestId: 'r-3' },
  ]) {
    expect(analyticsLine(variant)).toBe(JSON.stringify(toAnalyticsRecord(variant)));
  }
});

test('a long object is written in parts of LINES_PER_PART lines, each row in exactly one part', async () => {
  const store = memoryStore();
  const table = memoryTable();
  const total = LINES_PER_PART * 2 + 123;
  const lines = Array.from({ length: total }, (_, i) =>
    i === LINES_PER_PART + 5 ? '{"features": [1e400]}' : JSON.stringify({ features: [i, 1, 2, 3] }),
  );
  await store.putText('batch', 'pending/long.jsonl', lines.join('\n'), 'application/x-ndjson');

  const summary = await runScorer(
    { ...config, batchSize: 37, scoreConcurrency: 4 },
    { store, table, endpoint, log: { info: () => undefined, warn: () => undefined } },
  );

  expect(summary.objects[0]).toMatchObject({ written: total - 1, malformed: 1 });
  const parts = [...store.objects.entries()]
    .filter(([k]) => k.startsWith('analytics/'))
    .sort(([a], [b]) => a.localeCompare(b));
  expect(parts.map(([k]) => /part-(\d+)\.json$/.exec(k)?.[1])).toEqual(['00000', '00001', '00002']);
  const firstFeature = parts.map(([, body]) =>
    body
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { inputFeatures: number[] }).inputFeatures[0]),
  );
  expect(firstFeature.map((f) => f.length)).toEqual([LINES_PER_PART, LINES_PER_PART - 1, 123]);
  firstFeature.forEach((features, part) =>
    expect(features.every((f) => Math.floor(f / LINES_PER_PART) === part)).toBe(true),
  );
  expect(table.items.size).toBe(total - 1);
  const rejected = [...store.objects.keys()].filter((k) => k.includes('.rejected/'));
  expect(rejected).toEqual([expect.stringMatching(/part-00001\.jsonl$/)]);
});
