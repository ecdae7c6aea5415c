import { PutCommand } from '@aws-sdk/lib-dynamodb';
import {
  createDriftHandler,
  DATA_DRIFT_METRIC,
  type DriftDeps,
  type DriftLog,
} from '../../services/drift/handler';
import type { DriftConfig } from '../../services/drift/config';
import { loadDriftConfig } from '../../services/drift/config';
import type { DriftDatum, MetricsPublisher } from '../../services/drift/adapters/metrics';
import { createTableRecentInputs } from '../../services/drift/adapters/recent-inputs';
import { DATA_DRIFT_ALARM_THRESHOLD } from '../../services/drift/psi';
import { FIXTURE_BASELINE, FIXTURE_MODELS_DIR } from '../support/model-fixtures';
import { loadModelMetadata } from '../../services/model/artifacts';
import { startLocalDynamo, type LocalDynamo } from '../batch/support/local-aws';
import { sampleRows } from './support/synthetic';
import { buildVersions } from '../support/built-versions';

const { featureStats } = loadModelMetadata(FIXTURE_BASELINE, FIXTURE_MODELS_DIR);
const NOW = new Date('2026-11-20T12:00:00.000Z');
const config: DriftConfig = {
  stage: 'dev',
  namespace: 'MLInference',
  tableName: 'predictions',
  modelParameterPrefix: '/ml/dev/model',
  windowHours: 24,
  minSamples: 100,
  maxSamples: 5000,
};

interface Published {
  namespace: string;
  data: readonly DriftDatum[];
}

function harness(rows: number[][], stats = featureStats, version = 'v1.0.0') {
  const published: Published[] = [];
  const warnings: Record<string, unknown>[] = [];
  const queries: unknown[][] = [];
  const metrics: MetricsPublisher = {
    publish: async (namespace, data) => void published.push({ namespace, data }),
  };
  const log: DriftLog = { info: () => undefined, warn: (_m, fields) => void warnings.push(fields) };
  const deps: DriftDeps = {
    config,
    now: () => NOW,
    log,
    metrics,
    catalog: { activeVersion: async () => version, featureStats: async () => [...stats] },
    inputs: {
      features: async (...args) => {
        queries.push(args);
        return rows;
      },
    },
  };
  return { run: createDriftHandler(deps), published, warnings, queries };
}

const byDimensions = (data: readonly DriftDatum[], dims: Record<string, string>) =>
  data.filter((d) => JSON.stringify(d.dimensions) === JSON.stringify(dims));

test('shifted inputs publish DataDrift above the alarm threshold with Stage and ModelVersion dimensions', async () => {
  const shifted = sampleRows(featureStats, 1000, 7).map((r) => r.map((v, i) => v + featureStats[i].std));
  const { run, published, queries } = harness(shifted);

  const result = await run();

  expect(queries).toEqual([['v1.0.0', '2026-11-19T12:00:00.000Z', '2026-11-20T12:00:00.000Z', 5000]]);
  expect(published).toHaveLength(1);
  const { namespace, data } = published[0];
  expect(namespace).toBe('MLInference');
  expect(data.every((d) => d.metricName === DATA_DRIFT_METRIC && d.timestamp === NOW)).toBe(true);
  const [headline] = byDimensions(data, { Stage: 'dev', ModelVersion: 'v1.0.0' });
  expect(headline.value).toBeGreaterThan(DATA_DRIFT_ALARM_THRESHOLD);
  expect(byDimensions(data, { Stage: 'dev' })[0].value).toBe(headline.value);
  const perFeature = data.filter((d) => d.dimensions.Feature !== undefined);
  expect(perFeature.map((d) => d.dimensions)).toEqual(
    featureStats.map((s) => ({ Stage: 'dev', ModelVersion: 'v1.0.0', Feature: s.name })),
  );
  expect(headline.value).toBe(Math.max(...perFeature.map((d) => d.value)));
  expect(result).toMatchObject({ status: 'published', samples: 1000, maxPsi: headline.value });
});

test("a regressor's shifted inputs publish DataDrift per feature like a classifier's", async () => {
  const built = await buildVersions([{ version: 'v3.0.0', onnx: 'regression.onnx', csv: 'regression.csv' }]);
  try {
    const regression = loadModelMetadata('v3.0.0', built.root);
    expect(regression.task).toBe('regression');
    const stats = regression.featureStats;
    const shifted = sampleRows(stats, 1000, 11).map((r) => r.map((v, i) => v + 2 * stats[i].std));
    const { run, published } = harness(shifted, stats, 'v3.0.0');
    const result = await run();
    expect(result).toMatchObject({ status: 'published', modelVersion: 'v3.0.0', samples: 1000 });
    const perFeature = published[0].data.filter((d) => d.dimensions.Feature !== undefined);
    expect(perFeature.map((d) => d.dimensions.Feature)).toEqual(stats.map((s) => s.name));
    expect(Math.max(...perFeature.map((d) => d.value))).toBeGreaterThan(DATA_DRIFT_ALARM_THRESHOLD);
  } finally {
    await built.remove();
  }
});

test('inputs like the training data publish DataDrift below the alarm threshold', async () => {
  const { run, published } = harness(sampleRows(featureStats, 1000, 8));

  await run();

  const [headline] = byDimensions(published[0].data, { Stage: 'dev', ModelVersion: 'v1.0.0' });
  expect(headline.value).toBeLessThan(0.1);
});

test('too few samples publish nothing and say why', async () => {
  const { run, published, warnings } = harness(sampleRows(featureStats, 99, 9));

  const result = await run();

  expect(result).toEqual({
    status: 'insufficient-data',
    modelVersion: 'v1.0.0',
    samples: 99,
    minSamples: 100,
  });
  expect(published).toEqual([]);
  expect(warnings).toEqual([expect.objectContaining({ samples: 99, minSamples: 100 })]);
});

test('configuration errors name every missing variable', () => {
  expect(() => loadDriftConfig({ STAGE_NAME: 'dev', DRIFT_MIN_SAMPLES: 'many' })).toThrow(
    /METRIC_NAMESPACE is required; TABLE_NAME is required; MODEL_PARAMETER_PREFIX is required; DRIFT_MIN_SAMPLES="many"/,
  );
});

describe('recent inputs from the modelVersionIndex GSI (dynalite)', () => {
  let dynamo: LocalDynamo;
  beforeAll(async () => {
    dynamo = await startLocalDynamo();
    await dynamo.createPredictionsTable('predictions');
    const put = (
      id: string,
      modelVersion: string,
      timestamp: string,
      features: number[],
      source = 'api',
      prediction: object = { label: 'a', probabilities: [0.6, 0.4] },
    ) =>
      dynamo.client.send(
        new PutCommand({
          TableName: 'predictions',
          Item: { predictionId: id, modelVersion, timestamp, inputFeatures: features, source, prediction },
        }),
      );
    await Promise.all([
      put('old', 'v1.0.0', '2026-11-18T12:00:00.000Z', [0, 0, 0, 0]),
      put('a', 'v1.0.0', '2026-11-20T10:00:00.000Z', [1, 1, 1, 1]),
      put('b', 'v1.0.0', '2026-11-20T11:00:00.000Z', [2, 2, 2, 2]),
      put('c', 'v1.0.0', '2026-11-20T11:30:00.000Z', [3, 3, 3, 3]),
      put('other', 'v1.1.0', '2026-11-20T11:00:00.000Z', [9, 9, 9, 9]),
      put('regressor', 'v3.0.0', '2026-11-20T11:00:00.000Z', [1, 2, 3, 4, 5, 6], 'api', { value: 41.5 }),
      put('stream', 'v1.0.0', '2026-11-20T11:40:00.000Z', [4, 4, 4, 4], 'stream'),
      // The rollout traffic source's (and smoke test's) requests are not users' inputs.
      ...Array.from({ length: 5 }, (_, i) =>
        put(`synthetic-${i}`, 'v1.0.0', `2026-11-20T11:5${i}:00.000Z`, [7, 7, 7, 7], 'synthetic'),
      ),
    ]);
  });
  afterAll(() => dynamo?.close());

  test("reads a regressor's inputs like a classifier's (drift looks at inputs, not answers)", async () => {
    const inputs = createTableRecentInputs(dynamo.client, 'predictions');
    expect(await inputs.features('v3.0.0', '2026-11-19T12:00:00.000Z', NOW.toISOString(), 10)).toEqual([
      [1, 2, 3, 4, 5, 6],
    ]);
  });

  test('returns the version’s inputs inside the window, newest first, up to the limit', async () => {
    const inputs = createTableRecentInputs(dynamo.client, 'predictions');
    expect(await inputs.features('v1.0.0', '2026-11-19T12:00:00.000Z', NOW.toISOString(), 10)).toEqual([
      [4, 4, 4, 4],
      [3, 3, 3, 3],
      [2, 2, 2, 2],
      [1, 1, 1, 1],
    ]);
    // The newest items are synthetic: the limit still counts users' inputs only.
    expect(await inputs.features('v1.0.0', '2026-11-19T12:00:00.000Z', NOW.toISOString(), 2)).toEqual([
      [4, 4, 4, 4],
      [3, 3, 3, 3],
    ]);
  });
});
