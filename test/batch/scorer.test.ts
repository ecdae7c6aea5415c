import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { BatchConfig } from '../../services/batch/config';
import { createS3ObjectStore, type ObjectStore } from '../../services/batch/adapters/object-store';
import {
  createDynamoPredictionsTable,
  type PredictionsTable,
} from '../../services/batch/adapters/predictions-table';
import type { ScoringModel } from '../../services/batch/scoring-model';
import {
  runScorer,
  type ObjectSummary,
  type ProgressLog,
  type ScorerDeps,
} from '../../services/batch/scorer';
import { startLocalDynamo, startLocalS3, type LocalDynamo, type LocalS3 } from './support/local-aws';
import { fixtureLabel, loadFixtureModel } from './support/model-fixture';

let s3: LocalS3;
let dynamo: LocalDynamo;
let fixture: Awaited<ReturnType<typeof loadFixtureModel>>;
let store: ObjectStore;
let model: ScoringModel;
let testNumber = 0;

const silent: ProgressLog = { info: () => undefined, warn: () => undefined };

beforeAll(async () => {
  [s3, dynamo, fixture] = await Promise.all([
    startLocalS3([]),
    startLocalDynamo(),
    loadFixtureModel('v3.1.4'),
  ]);
  store = createS3ObjectStore(s3.client);
  model = fixture.model;
});

afterAll(async () => {
  await Promise.all([s3?.close(), dynamo?.close(), fixture?.close()]);
});

/** The fixture model with a hook before each call, and a count of its calls. */
function hookedModel(before: () => Promise<void> = async () => undefined): ScoringModel & { calls: number } {
  const hooked = {
    version: model.version,
    featureCount: model.featureCount,
    calls: 0,
    async predict(rows: readonly (readonly number[])[]) {
      hooked.calls++;
      await before();
      return model.predict(rows);
    },
  };
  return hooked;
}

/** Fresh buckets and table per test, so counts belong to that test alone. */
async function freshConfig(overrides: Partial<BatchConfig> = {}): Promise<BatchConfig> {
  testNumber++;
  const config: BatchConfig = {
    batchBucket: `batch-${testNumber}`,
    analyticsBucket: `analytics-${testNumber}`,
    analyticsPrefix: 'analytics/predictions/',
    tableName: `predictions-${testNumber}`,
    modelParameterPrefix: '/test/dev/model',
    modelDir: '/unused',
    shardCount: 1,
    shardIndex: 0,
    batchSize: 50,
    maxObjects: 100,
    maxObjectBytes: 1024 * 1024,
    writeConcurrency: 8,
    scoreConcurrency: 4,
    progressIntervalSeconds: 60,
    ...overrides,
  };
  for (const bucket of [config.batchBucket, config.analyticsBucket]) {
    await s3.client.send(new CreateBucketCommand({ Bucket: bucket }));
  }
  await dynamo.createPredictionsTable(config.tableName);
  return config;
}

const row = (i: number): number[] => [
  4 + (i % 7) * 0.5,
  2 + (i % 5) * 0.3,
  1 + (i % 11) * 0.4,
  (i % 3) * 0.8,
];

const jsonLines = (count: number, withRequestIds = false, prefix = 'r'): string =>
  Array.from({ length: count }, (_, i) =>
    JSON.stringify(withRequestIds ? { features: row(i), requestId: `${prefix}-${i}` } : { features: row(i) }),
  ).join('\n') + '\n';

async function putInput(config: BatchConfig, key: string, body: string): Promise<void> {
  await s3.client.send(new PutObjectCommand({ Bucket: config.batchBucket, Key: key, Body: body }));
}

async function readText(bucket: string, key: string): Promise<string> {
  const { Body } = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Body!.transformToString();
}

async function analyticsLines(config: BatchConfig): Promise<Record<string, unknown>[]> {
  const keys = await s3.keys(config.analyticsBucket, config.analyticsPrefix);
  const texts = await Promise.all(keys.map((k) => readText(config.analyticsBucket, k)));
  return texts.flatMap((t) =>
    t
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>),
  );
}

function deps(config: BatchConfig, overrides: Partial<ScorerDeps> = {}): ScorerDeps {
  return {
    store,
    table: createDynamoPredictionsTable(dynamo.client, config.tableName),
    model,
    log: silent,
    ...overrides,
  };
}

async function seedThreeObjects(config: BatchConfig): Promise<number> {
  await putInput(config, 'pending/2026/a.jsonl', jsonLines(130));
  await putInput(config, 'pending/2026/b.jsonl', jsonLines(80, true, 'b'));
  await putInput(config, 'pending/c.jsonl', jsonLines(45));
  return 130 + 80 + 45;
}

async function expectExactlyOnce(config: BatchConfig, expected: number): Promise<void> {
  const items = await dynamo.scanAll(config.tableName);
  const lines = await analyticsLines(config);
  expect(items).toHaveLength(expected);
  expect(lines).toHaveLength(expected);
  const lineIds = lines.map((l) => l.predictionId as string);
  expect(new Set(lineIds).size).toBe(expected);
  expect(new Set(lineIds)).toEqual(new Set(items.map((i) => i.predictionId as string)));
}

test('scores every object, writes table items and partitioned analytics lines, moves inputs to processed/', async () => {
  const config = await freshConfig();
  const total = await seedThreeObjects(config);

  const summary = await runScorer(config, deps(config));

  expect(summary).toMatchObject({ processed: 3, failed: 0, written: total, malformed: 0 });
  await expectExactlyOnce(config, total);
  expect(await s3.keys(config.batchBucket, 'pending/')).toEqual([]);
  expect(await s3.keys(config.batchBucket, 'checkpoints/')).toEqual([]);
  expect((await s3.keys(config.batchBucket, 'processed/')).sort()).toEqual([
    'processed/2026/a.jsonl',
    'processed/2026/b.jsonl',
    'processed/c.jsonl',
  ]);
  const analyticsKeys = await s3.keys(config.analyticsBucket);
  expect(analyticsKeys).toHaveLength(3);
  for (const key of analyticsKeys) {
    expect(key).toMatch(
      /^analytics\/predictions\/dt=\d{4}-\d{2}-\d{2}\/hour=\d{2}\/[A-Za-z0-9_-]+-[0-9a-f]{20}-part-00000\.json$/,
    );
  }
  const items = await dynamo.scanAll(config.tableName);
  const withRequestId = items.filter((i) => typeof i.requestId === 'string');
  expect(withRequestId).toHaveLength(80);
  expect(items.every((i) => i.source === 'batch')).toBe(true);
  // Every output records the version the run loaded, scored in this process (no endpoint variant).
  expect(new Set(items.map((i) => `${i.invokedVariant}=${i.modelVersion}`))).toEqual(
    new Set(['in-process=v3.1.4']),
  );
  const lines = await analyticsLines(config);
  expect(new Set(lines.map((l) => l.modelVersion))).toEqual(new Set(['v3.1.4']));
  for (const item of items) {
    const features = item.inputFeatures as number[];
    const prediction = item.prediction as { label: string; probabilities: number[] };
    expect(prediction.label).toBe(fixtureLabel(features.reduce((a, b) => a + b, 0)));
    expect(prediction.probabilities).toHaveLength(3);
  }
  expect(new Set(items.map((i) => (i.prediction as { label: string }).label))).toEqual(
    new Set(['low', 'high']),
  );
  expect(items[0].expirationTime).toBe(
    Math.floor(Date.parse(items[0].timestamp as string) / 1000) + 30 * 86400,
  );
});

test('a crash after some table writes, then a re-run: no prediction lost or duplicated', async () => {
  const config = await freshConfig();
  const total = await seedThreeObjects(config);
  const realTable = createDynamoPredictionsTable(dynamo.client, config.tableName);
  let puts = 0;
  const crashingTable: PredictionsTable = {
    ...realTable,
    async putIfAbsent(item) {
      if (++puts > 40) throw new Error('injected crash');
      return realTable.putIfAbsent(item);
    },
  };

  await expect(runScorer(config, deps(config, { table: crashingTable }))).rejects.toThrow('injected crash');
  const itemsAfterCrash = (await dynamo.scanAll(config.tableName)).length;
  expect(itemsAfterCrash).toBeGreaterThan(130);
  expect(itemsAfterCrash).toBeLessThan(total);
  expect(await s3.keys(config.batchBucket, 'pending/')).toHaveLength(2);

  const rerun = await runScorer(config, deps(config));

  expect(rerun.processed).toBe(2);
  const resumedObject = rerun.objects.find((o) => o.recovered > 0);
  expect(resumedObject).toBeDefined();
  expect(resumedObject!.written + resumedObject!.recovered).toBe(80);
  await expectExactlyOnce(config, total);
  expect(await s3.keys(config.batchBucket, 'pending/')).toEqual([]);
});

test('a crash after the analytics object is written but before the move: the re-run only moves the input', async () => {
  const config = await freshConfig();
  await putInput(config, 'pending/only.jsonl', jsonLines(60));
  let copies = 0;
  const crashingStore: ObjectStore = {
    ...store,
    async copy(bucket, from, etag, to) {
      if (++copies === 1) throw new Error('injected crash before move');
      return store.copy(bucket, from, etag, to);
    },
  };

  await expect(runScorer(config, deps(config, { store: crashingStore }))).rejects.toThrow('before move');
  const counting = hookedModel();
  const rerun = await runScorer(config, deps(config, { model: counting }));

  expect(rerun.objects[0]).toMatchObject({ outcome: 'processed', resumed: true, written: 0 });
  expect(counting.calls).toBe(0);
  await expectExactlyOnce(config, 60);
  expect(await s3.keys(config.batchBucket)).toEqual(['processed/only.jsonl']);
});

test('routes objects that cannot be processed to failed/ with a reason, and counts malformed lines', async () => {
  const config = await freshConfig({ maxObjectBytes: 4096 });
  await putInput(config, 'pending/not-json.csv', 'sepal_length,sepal_width\n5.1,3.5\n4.9,3.0\n');
  await putInput(config, 'pending/empty.jsonl', '\n\n');
  await putInput(config, 'pending/huge.jsonl', jsonLines(200));
  const mixed = [
    JSON.stringify({ features: [5.1, 3.5, 1.4, 0.2] }),
    '{"features": [5.1, 3.5',
    JSON.stringify({ features: [5.1, 'x', 1.4, 0.2] }),
    JSON.stringify({ features: [6.1, 2.8, 4.7, 1.2, 9.9] }),
    JSON.stringify({ features: [6.3, 3.3, 6.0, 2.5], requestId: 'ok-1' }),
    JSON.stringify({ features: [6.3, 3.3, 6.0, 2.5], requestId: 'ok-1' }),
    '[1,2,3,4]',
  ].join('\n');
  await putInput(config, 'pending/mixed.jsonl', mixed);

  const summary = await runScorer(config, deps(config));

  expect(summary).toMatchObject({ processed: 1, failed: 3, written: 2 });
  const byKey = Object.fromEntries(summary.objects.map((o) => [o.key, o]));
  expect(byKey['pending/not-json.csv'].failure?.code).toBe('NoValidLines');
  expect(byKey['pending/empty.jsonl'].failure?.code).toBe('EmptyInput');
  expect(byKey['pending/huge.jsonl'].failure?.code).toBe('TooLarge');
  expect(byKey['pending/mixed.jsonl']).toMatchObject({ lines: 7, written: 2, duplicates: 1, malformed: 4 });
  expect(byKey['pending/mixed.jsonl'].malformedSample.map((m) => m.lineNumber).sort()).toEqual([2, 3, 4, 7]);
  expect(byKey['pending/mixed.jsonl'].malformedSample.find((m) => m.lineNumber === 4)?.reason).toMatch(
    /rejected by the model/,
  );

  expect((await s3.keys(config.batchBucket, 'failed/')).sort()).toEqual([
    'failed/empty.jsonl',
    'failed/empty.jsonl.error.json',
    'failed/huge.jsonl',
    'failed/huge.jsonl.error.json',
    expect.stringMatching(/^failed\/mixed\.jsonl\.rejected\/mixed-[0-9a-f]{20}-part-00000\.jsonl$/),
    'failed/not-json.csv',
    'failed/not-json.csv.error.json',
    expect.stringMatching(/^failed\/not-json\.csv\.rejected\/not-json-[0-9a-f]{20}-part-00000\.jsonl$/),
  ]);
  // The bad lines of a processed object are in failed/ too, each with its reason; the duplicate as well.
  expect(byKey['pending/mixed.jsonl'].rejectedKeys).toHaveLength(1);
  const rejected = (await readText(config.batchBucket, byKey['pending/mixed.jsonl'].rejectedKeys[0]))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { lineNumber: number; reason: string; line: string });
  expect(rejected.map((r) => r.lineNumber).sort()).toEqual([2, 3, 4, 6, 7]);
  expect(rejected.find((r) => r.lineNumber === 6)?.reason).toMatch(/duplicate of line 5/);
  expect(rejected.find((r) => r.lineNumber === 2)?.line).toBe('{"features": [5.1, 3.5');
  const report = JSON.parse(await readText(config.batchBucket, 'failed/not-json.csv.error.json'));
  expect(report).toMatchObject({
    inputKey: 'pending/not-json.csv',
    code: 'NoValidLines',
    lines: 3,
    malformed: 3,
  });
  expect(report.message).toMatch(/none of the 3 lines/);
  expect(await dynamo.scanAll(config.tableName)).toHaveLength(2);
  expect(await analyticsLines(config)).toHaveLength(2);
});

test('a model failure fails the run and leaves the input in pending/', async () => {
  const config = await freshConfig();
  await putInput(config, 'pending/a.jsonl', jsonLines(10));
  const broken = hookedModel(() => Promise.reject(new Error('session lost')));

  await expect(runScorer(config, deps(config, { model: broken }))).rejects.toThrow('session lost');

  expect(await s3.keys(config.batchBucket, 'pending/')).toEqual(['pending/a.jsonl']);
  expect(await dynamo.scanAll(config.tableName)).toHaveLength(0);
});

/** Every non-blank line of an object is accounted for: scored, recovered, a duplicate, or rejected. */
function expectAccounted(summary: ObjectSummary): void {
  expect(summary.written + summary.recovered + summary.duplicates + summary.malformed).toBe(summary.lines);
}

async function rejectedLines(
  config: BatchConfig,
  summary: ObjectSummary,
): Promise<{ lineNumber: number; reason: string; line: string }[]> {
  const texts = await Promise.all(summary.rejectedKeys.map((k) => readText(config.batchBucket, k)));
  return texts.flatMap((t) =>
    t
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { lineNumber: number; reason: string; line: string }),
  );
}

test('out-of-range numbers are isolated: the rest of the object and every later object are scored', async () => {
  const config = await freshConfig();
  const poison = ['1e16', '1e-200', '3.5e38', '9007199254740992'];
  const lines = jsonLines(120).trim().split('\n');
  poison.forEach((p, i) => lines.splice(10 + i * 30, 0, `{"features": [5.1, ${p}, 1.4, 0.2]}`));
  await putInput(config, 'pending/a-poisoned.jsonl', lines.join('\n') + '\n');
  await putInput(config, 'pending/b.jsonl', jsonLines(40, true, 'b'));
  await putInput(config, 'pending/c.jsonl', jsonLines(30));

  const summary = await runScorer(config, deps(config));

  expect(summary).toMatchObject({ processed: 3, failed: 0, written: 120 + 40 + 30, malformed: 4 });
  const poisoned = summary.objects.find((o) => o.key === 'pending/a-poisoned.jsonl')!;
  expectAccounted(poisoned);
  const rejected = await rejectedLines(config, poisoned);
  expect(rejected.map((r) => r.lineNumber)).toEqual([11, 41, 71, 101]);
  expect(rejected.map((r) => r.reason)).toEqual([
    expect.stringMatching(/^features\[1\] is beyond/),
    expect.stringMatching(/^features\[1\] underflows float32/),
    expect.stringMatching(/^features\[1\] is beyond/),
    expect.stringMatching(/^features\[1\] is beyond/),
  ]);
  expect(rejected[1].line).toContain('1e-200');
  await expectExactlyOnce(config, 190);
  expect(await s3.keys(config.batchBucket, 'pending/')).toEqual([]);
});

test('an input overwritten while it is scored: both versions are scored exactly once', async () => {
  const config = await freshConfig();
  const first = jsonLines(300);
  const second = jsonLines(70, false, 'v2').replace(/"features":\[4,/g, '"features":[4.25,');
  await putInput(config, 'pending/day.jsonl', first);
  let overwritten = false;
  const overwriting = hookedModel(async () => {
    if (!overwritten) {
      overwritten = true;
      // The uploader is not the scorer: a fresh stack keeps its PutObject out of the scorer's calls.
      await new Promise((resolve, reject) =>
        setImmediate(() => putInput(config, 'pending/day.jsonl', second).then(resolve, reject)),
      );
    }
  });

  const run1 = await runScorer(config, deps(config, { model: overwriting }));

  expect(run1.objects[0]).toMatchObject({ outcome: 'processed', written: 300, superseded: true });
  expect(await s3.keys(config.batchBucket, 'pending/')).toEqual(['pending/day.jsonl']);
  expect(await readText(config.batchBucket, 'pending/day.jsonl')).toBe(second);
  expect(await s3.keys(config.batchBucket, 'checkpoints/')).toEqual([]);

  const run2 = await runScorer(config, deps(config));

  expect(run2.objects[0]).toMatchObject({ outcome: 'processed', written: 70 });
  expect(run2.objects[0].superseded).toBeUndefined();
  await expectExactlyOnce(config, 370);
  expect(await readText(config.batchBucket, 'processed/day.jsonl')).toBe(second);
  expect(await s3.keys(config.batchBucket, 'pending/')).toEqual([]);
});

test('a requestId reused with other features is reported as a conflict in failed/, never dropped', async () => {
  const config = await freshConfig();
  await putInput(config, 'pending/1.jsonl', jsonLines(10, true, 'r'));
  const second = [
    JSON.stringify({ features: row(0), requestId: 'r-0' }),
    JSON.stringify({ features: [7.7, 2.6, 6.9, 2.3], requestId: 'r-1' }),
    JSON.stringify({ features: row(3), requestId: 'new-1' }),
    JSON.stringify({ features: row(4), requestId: 'has space' }),
    JSON.stringify({ features: row(5), requestId: 'x'.repeat(129) }),
  ].join('\n');
  await putInput(config, 'pending/2.jsonl', second);

  const summary = await runScorer(config, deps(config));

  const [one, two] = summary.objects;
  expect(one).toMatchObject({ written: 10, duplicates: 0, malformed: 0 });
  expect(two).toMatchObject({ lines: 5, written: 1, duplicates: 1, malformed: 3 });
  expectAccounted(two);
  const rejected = await rejectedLines(config, two);
  expect(Object.fromEntries(rejected.map((r) => [r.lineNumber, r.reason]))).toEqual({
    1: expect.stringMatching(/^duplicate: requestId "r-0" already has prediction .* of the same features$/),
    2: expect.stringMatching(/^requestId conflict: "r-1" already has prediction .* of other features$/),
    4: expect.stringContaining('"requestId" must be 1-128 characters of A-Z'),
    5: expect.stringContaining('"requestId" must be 1-128 characters of A-Z'),
  });
  const items = await dynamo.scanAll(config.tableName);
  expect(items).toHaveLength(11);
  expect(items.find((i) => i.requestId === 'r-1')?.inputFeatures).toEqual(row(1));
  expect(await analyticsLines(config)).toHaveLength(11);
});

test('a crash during batch writes of rows without requestId, then a re-run: nothing lost or duplicated', async () => {
  const config = await freshConfig({ batchSize: 25 });
  await putInput(config, 'pending/big.jsonl', jsonLines(600));
  const realTable = createDynamoPredictionsTable(dynamo.client, config.tableName);
  let batches = 0;
  const crashingTable: PredictionsTable = {
    ...realTable,
    async putOwned(items) {
      if (++batches > 9) throw new Error('injected crash');
      return realTable.putOwned(items);
    },
  };

  await expect(runScorer(config, deps(config, { table: crashingTable }))).rejects.toThrow('injected crash');
  const afterCrash = (await dynamo.scanAll(config.tableName)).length;
  expect(afterCrash).toBeGreaterThanOrEqual(9 * 25);
  expect(afterCrash).toBeLessThan(600);

  const rerun = await runScorer(config, deps(config));

  expect(rerun.objects[0].recovered).toBe(afterCrash);
  expect(rerun.objects[0].written).toBe(600 - afterCrash);
  await expectExactlyOnce(config, 600);
});

test('progress is logged at a steady interval while an object is scored', async () => {
  const config = await freshConfig({ progressIntervalSeconds: 1, batchSize: 10, scoreConcurrency: 1 });
  await putInput(config, 'pending/slow.jsonl', jsonLines(60));
  const slow = hookedModel(() => new Promise((resolve) => setTimeout(resolve, 450)));
  const lines: Record<string, unknown>[] = [];
  const log: ProgressLog = {
    info: (message, fields) => void (message === 'progress' && lines.push(fields)),
    warn: () => undefined,
  };

  await runScorer(config, deps(config, { model: slow, log }));

  expect(lines.length).toBeGreaterThanOrEqual(2);
  expect(lines[0]).toMatchObject({ key: 'pending/slow.jsonl', rowsScored: expect.any(Number) });
  expect(lines.map((l) => l.rowsScored as number)).toEqual(
    [...lines.map((l) => l.rowsScored as number)].sort((a, b) => a - b),
  );
  expect(lines.at(-1)!.rowsPerSecond).toBeGreaterThan(0);
});

test('a row the model cannot score is isolated by halving its batch; its neighbours are scored', async () => {
  const config = await freshConfig({ batchSize: 40 });
  const lines = jsonLines(40).trim().split('\n');
  // Within the input checks (below 2^53), but the model's fourth-power term overflows to a NaN output.
  lines[17] = JSON.stringify({ features: [9e15, 1, 1, 1] });
  await putInput(config, 'pending/a.jsonl', lines.join('\n') + '\n');

  const summary = await runScorer(config, deps(config));

  expect(summary.objects[0]).toMatchObject({ outcome: 'processed', lines: 40, written: 39, malformed: 1 });
  const rejected = await rejectedLines(config, summary.objects[0]);
  expect(rejected).toEqual([
    expect.objectContaining({
      lineNumber: 18,
      reason: expect.stringMatching(/^rejected by the model: .*not finite/),
    }),
  ]);
  await expectExactlyOnce(config, 39);
});

describe('shards', () => {
  const shardConfig = (config: BatchConfig, shardIndex: number, shardCount = 2): BatchConfig => ({
    ...config,
    shardCount,
    shardIndex,
  });

  async function seedObjects(config: BatchConfig, count: number): Promise<number> {
    let total = 0;
    for (let i = 0; i < count; i++) {
      const rows = 20 + i * 7;
      // Every third object shares requestIds with the first: the shards race on the same conditional puts.
      await putInput(
        config,
        `pending/part-${i}.jsonl`,
        jsonLines(rows, i % 3 === 0, i % 3 === 0 ? 'shared' : `o${i}`),
      );
      total += rows;
    }
    return total;
  }

  test('concurrent tasks on disjoint shards score every row exactly once and each object once', async () => {
    const config = await freshConfig();
    await seedObjects(config, 8);

    const [first, second] = await Promise.all([
      runScorer(shardConfig(config, 0), deps(config)),
      runScorer(shardConfig(config, 1), deps(config)),
    ]);

    const keys = [...first.objects, ...second.objects].map((o) => o.key);
    expect(new Set(keys).size).toBe(8);
    expect(keys).toHaveLength(8);
    expect(first.objects.length).toBeGreaterThan(0);
    expect(second.objects.length).toBeGreaterThan(0);
    // Rows with the same requestId and features collapse onto one prediction whichever shard wins.
    const sharedRows = Math.max(...[0, 3, 6].map((i) => 20 + i * 7));
    const distinct = [1, 2, 4, 5, 7].reduce((sum, i) => sum + 20 + i * 7, 0) + sharedRows;
    await expectExactlyOnce(config, distinct);
    const duplicates = [...first.objects, ...second.objects].reduce((sum, o) => sum + o.duplicates, 0);
    expect(duplicates).toBe(20 + 41 + 62 - sharedRows);
    expect(await s3.keys(config.batchBucket, 'pending/')).toEqual([]);
  });

  test("a crashed shard's retry resumes its own objects only, without duplicates", async () => {
    const config = await freshConfig({ batchSize: 10 });
    const total = await seedObjects(config, 6).then(() => 0);
    void total;
    const realTable = createDynamoPredictionsTable(dynamo.client, config.tableName);
    let writes = 0;
    const crashingTable: PredictionsTable = {
      ...realTable,
      async putOwned(items) {
        if (++writes > 4) throw new Error('task killed');
        return realTable.putOwned(items);
      },
    };

    const [healthy, crashed] = await Promise.allSettled([
      runScorer(shardConfig(config, 0), deps(config)),
      runScorer(shardConfig(config, 1), deps(config, { table: crashingTable })),
    ]);
    expect(healthy.status).toBe('fulfilled');
    expect(crashed.status).toBe('rejected');
    const left = await s3.keys(config.batchBucket, 'pending/');
    expect(left.length).toBeGreaterThan(0);

    // AWS Batch retries the child with the same index: it finds only its own shard's leftovers.
    const retry = await runScorer(shardConfig(config, 1), deps(config));

    expect(retry.objects.map((o) => o.key).sort()).toEqual(left.sort());
    expect(retry.objects.some((o) => o.recovered > 0)).toBe(true);
    const distinct = [1, 2, 4, 5].reduce((sum, i) => sum + 20 + i * 7, 0) + (20 + 3 * 7);
    await expectExactlyOnce(config, distinct);
    expect(await s3.keys(config.batchBucket, 'pending/')).toEqual([]);
  });
});
