import { ConfigError, loadConfig } from '../../services/batch/config';
import { parseJsonLines } from '../../services/batch/input';
import {
  analyticsKeyFor,
  destinationKeyFor,
  outputNameFor,
  partitionPath,
  predictionIdFor,
  rejectedKeyFor,
  shardOf,
} from '../../services/batch/naming';
import { chunk, mapLimit } from '../../services/batch/scorer';
import { TextBuffer, TextBufferPool } from '../../services/batch/text-buffer';
import { itemAttributes, type PredictionItem } from '../../services/batch/adapters/predictions-table';
import { marshall } from '@aws-sdk/util-dynamodb';
import { BATCH_NAMESPACE, predictionIdForRequestId } from '../../services/inference/prediction';

const env = {
  BATCH_BUCKET: 'batch-input',
  ANALYTICS_BUCKET: 'analytics-data',
  TABLE_NAME: 'predictions',
  MODEL_PARAMETER_PREFIX: '/ml/dev/model',
};

describe('loadConfig', () => {
  test('applies defaults', () => {
    expect(loadConfig(env)).toEqual({
      batchBucket: 'batch-input',
      analyticsBucket: 'analytics-data',
      analyticsPrefix: 'analytics/predictions/',
      tableName: 'predictions',
      modelParameterPrefix: '/ml/dev/model',
      modelDir: '/tmp/model',
      shardCount: 1,
      shardIndex: 0,
      batchSize: 500,
      maxObjects: 100,
      maxObjectBytes: 5 * 1024 * 1024 * 1024,
      writeConcurrency: 32,
      scoreConcurrency: 8,
      progressIntervalSeconds: 30,
    });
    expect(loadConfig({ ...env, ANALYTICS_PREFIX: 'x/y' }).analyticsPrefix).toBe('x/y/');
  });

  test('names every bad variable at once', () => {
    let error: unknown;
    try {
      loadConfig({
        BATCH_BUCKET: 'Bad_Bucket',
        TABLE_NAME: 'ab',
        MODEL_PARAMETER_PREFIX: 'ml/dev/model',
        SHARD_COUNT: '4',
        AWS_BATCH_JOB_ARRAY_INDEX: '4',
        BATCH_SIZE: '0',
        MAX_OBJECTS: 'ten',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'BATCH_BUCKET="Bad_Bucket" is not a valid S3 bucket name',
      'ANALYTICS_BUCKET is required (S3 bucket name)',
      'TABLE_NAME="ab" is not a valid DynamoDB table name',
      'MODEL_PARAMETER_PREFIX="ml/dev/model" is not a valid Parameter Store path',
      'BATCH_SIZE="0" must be an integer from 1 to 1000',
      'MAX_OBJECTS="ten" must be an integer from 1 to 100000',
      'AWS_BATCH_JOB_ARRAY_INDEX=4 must be below SHARD_COUNT=4',
    ]);
  });

  test('reads the shard of an array job child', () => {
    expect(loadConfig({ ...env, SHARD_COUNT: '3', AWS_BATCH_JOB_ARRAY_INDEX: '2' })).toMatchObject({
      shardCount: 3,
      shardIndex: 2,
    });
  });
});

describe('parseJsonLines', () => {
  test('keeps valid rows with line numbers, reports bad lines, skips blank ones', () => {
    const parsed = parseJsonLines(
      [
        '{"features":[1,2,3,4],"requestId":"r1"}',
        '',
        'nope',
        '{"features":[]}',
        '{"features":[1,"2"]}',
        '{"features":[1],"requestId":7}',
        '42',
        '  {"features":[0.5]}  ',
      ].join('\r\n'),
    );
    expect(parsed.lineCount).toBe(7);
    expect(parsed.rows).toEqual([
      { lineNumber: 1, features: [1, 2, 3, 4], requestId: 'r1' },
      { lineNumber: 8, features: [0.5] },
    ]);
    expect(parsed.malformed.map((m) => [m.lineNumber, m.reason])).toEqual([
      [3, 'not valid JSON'],
      [4, expect.stringContaining('non-empty array')],
      [5, 'features[1] is not a finite number'],
      [6, expect.stringContaining('"requestId"')],
      [7, 'not a JSON object'],
    ]);
  });
});

describe('naming', () => {
  const input = { key: 'pending/2026/day 1.jsonl', etag: 'abc123' };

  test('output names are deterministic, S3-safe and change with the etag', () => {
    expect(outputNameFor(input)).toBe(outputNameFor({ ...input }));
    expect(outputNameFor(input)).toMatch(/^day-1-[0-9a-f]{20}$/);
    expect(outputNameFor({ ...input, etag: 'other' })).not.toBe(outputNameFor(input));
  });

  test('predictionIds depend on the line, or only on the requestId', () => {
    expect(predictionIdFor(input, 1)).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
    expect(predictionIdFor(input, 1)).not.toBe(predictionIdFor(input, 2));
    expect(predictionIdFor(input, 1)).not.toBe(predictionIdFor({ ...input, etag: 'new' }, 1));
    expect(predictionIdFor(input, 1, 'r')).toBe(predictionIdFor({ key: 'pending/x', etag: 'y' }, 9, 'r'));
    expect(predictionIdFor(input, 1, 'retry-7')).toBe(predictionIdForRequestId(BATCH_NAMESPACE, 'retry-7'));
  });

  test('partitions and keys', () => {
    expect(partitionPath('2026-01-02T03:04:05.000Z')).toBe('dt=2026-01-02/hour=03/');
    expect(analyticsKeyFor('analytics/predictions/', input, '2026-12-31T23:59:59.999Z', 3)).toMatch(
      /^analytics\/predictions\/dt=2026-12-31\/hour=23\/day-1-[0-9a-f]{20}-part-00003\.json$/,
    );
    expect(rejectedKeyFor(input, 0)).toMatch(
      /^failed\/2026\/day 1\.jsonl\.rejected\/day-1-[0-9a-f]{20}-part-00000\.jsonl$/,
    );
    expect(destinationKeyFor('pending/a/b.jsonl', 'processed')).toBe('processed/a/b.jsonl');
    expect(destinationKeyFor('pending/b.jsonl', 'failed')).toBe('failed/b.jsonl');
  });
});

test('chunk and mapLimit keep order and bound concurrency', async () => {
  expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
  let inFlight = 0;
  let peak = 0;
  const out = await mapLimit([5, 1, 4, 2, 3], 2, async (n) => {
    peak = Math.max(peak, ++inFlight);
    await new Promise((r) => setTimeout(r, n));
    inFlight--;
    return n * 10;
  });
  expect(out).toEqual([50, 10, 40, 20, 30]);
  expect(peak).toBe(2);
});

describe('TextBuffer', () => {
  test('holds appended lines as UTF-8, newline-terminated, across growth', () => {
    const buffer = new TextBuffer();
    const lines = Array.from({ length: 3000 }, (_, i) => `{"i":${i},"label":"versicolor","s":"ä€😀"}`);
    for (const line of lines) buffer.appendLine(line);

    expect(buffer.lines).toBe(3000);
    expect(buffer.capacity).toBeGreaterThan(64 * 1024);
    const text = Buffer.from(buffer.view()).toString('utf8');
    expect(text).toBe(lines.join('\n') + '\n');
    expect(buffer.byteLength).toBe(Buffer.byteLength(text));
  });

  test('a pool hands a released buffer out again, empty and with its bytes kept', () => {
    const pool = new TextBufferPool();
    const first = pool.acquire();
    expect(first.capacity).toBe(0);
    for (let i = 0; i < 5000; i++) first.appendLine('x'.repeat(100));
    const grown = first.capacity;
    pool.release(first);

    const again = pool.acquire();
    expect(again).toBe(first);
    expect(again.lines).toBe(0);
    expect(again.view()).toHaveLength(0);
    expect(again.capacity).toBe(grown);
    again.appendLine('next');
    expect(Buffer.from(again.view()).toString()).toBe('next\n');
    expect(pool.acquire()).not.toBe(first);
  });
});

describe('itemAttributes', () => {
  const item: PredictionItem = {
    predictionId: '0b5e7c1a-9f3d-8e2b-a1c4-5d6e7f8a9b0c',
    timestamp: '2026-12-01T10:00:00.000Z',
    modelVersion: 'v1.1.0',
    invokedVariant: 'VariantB',
    prediction: { label: 'versicolor', probabilities: [0.1 + 0.2, 1e-7, 0.7, 0] },
    inputFeatures: [5.1, -3.5, 9007199254740991, 2.5e-30],
    expirationTime: 1767261600,
    source: 'batch',
  };

  test('is what the document client marshals, with and without the optional attributes', () => {
    const options = { removeUndefinedValues: true };
    expect(itemAttributes(item)).toEqual(marshall(item, options));
    const full = { ...item, requestId: 'order-7:a', modelLatencyMs: 12.3 };
    expect(itemAttributes(full)).toEqual(marshall(full, options));
  });

  test('refuses a number DynamoDB cannot store, as the marshaller does', () => {
    const bad = { ...item, prediction: { label: 'setosa', probabilities: [Number.NaN, 1] } };
    expect(() => marshall(bad)).toThrow();
    expect(() => itemAttributes(bad)).toThrow(/NaN cannot be stored in DynamoDB/);
  });
});

describe('shardOf', () => {
  test('splits keys into every shard, the same way on every call', () => {
    const keys = Array.from({ length: 400 }, (_, i) => `pending/2026/day-${i}.jsonl`);
    const shards = keys.map((k) => shardOf(k, 4));
    expect(keys.map((k) => shardOf(k, 4))).toEqual(shards);
    for (let shard = 0; shard < 4; shard++) {
      const share = shards.filter((s) => s === shard).length / keys.length;
      expect(share).toBeGreaterThan(0.18);
      expect(share).toBeLessThan(0.32);
    }
    expect(new Set(keys.map((k) => shardOf(k, 1)))).toEqual(new Set([0]));
  });
});
