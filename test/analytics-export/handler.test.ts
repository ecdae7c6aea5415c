import { DeleteObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { createS3ObjectWriter } from '../../services/analytics-export/adapters/object-writer';
import {
  createExportHandler,
  exportDepsFromEnv,
  type ExportHandler,
  type ExportLog,
  type ExportMetrics,
} from '../../services/analytics-export/handler';
import { predictionColumns } from '../../services/batch/analytics-schema';
import { startLocalS3, type LocalS3 } from '../batch/support/local-aws';
import { predictionItem, streamEvent, streamRecord } from './support/stream-events';

const bucket = 'stage-analytics';
const prefix = 'analytics/predictions/';

let s3: LocalS3;
const previousBucket = process.env.ANALYTICS_BUCKET;

beforeAll(async () => {
  // Lets the AWS call recorder name the bucket as the function's environment would.
  process.env.ANALYTICS_BUCKET = bucket;
  s3 = await startLocalS3([bucket]);
});

afterAll(async () => {
  await s3.close();
  if (previousBucket === undefined) delete process.env.ANALYTICS_BUCKET;
  else process.env.ANALYTICS_BUCKET = previousBucket;
});

const quietLog: ExportLog = { info: () => undefined, error: () => undefined };

function recordingMetrics(): ExportMetrics & { readonly counts: Record<string, number> } {
  const counts: Record<string, number> = {};
  return {
    counts,
    addMetric: (name, _unit, value) => {
      counts[name] = (counts[name] ?? 0) + value;
    },
    publishStoredMetrics: () => undefined,
  };
}

function exporter(
  targetBucket = bucket,
  metrics: ExportMetrics = recordingMetrics(),
  log: ExportLog = quietLog,
): ExportHandler {
  return createExportHandler({ writer: createS3ObjectWriter(s3.client, targetBucket), prefix, log, metrics });
}

async function linesOf(key: string): Promise<Record<string, unknown>[]> {
  const { Body } = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const text = await Body!.transformToString('utf-8');
  return text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function emptyBucket(): Promise<void> {
  for (const key of await s3.keys(bucket)) {
    await s3.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  }
}

function matchesHiveType(value: unknown, type: string): boolean {
  const array = /^array<(.+)>$/.exec(type);
  if (array) return Array.isArray(value) && value.every((v) => matchesHiveType(v, array[1]!));
  if (type === 'string') return typeof value === 'string';
  if (type === 'bigint' || type === 'int') return Number.isSafeInteger(value);
  if (type === 'double') return typeof value === 'number' && Number.isFinite(value);
  throw new Error(`no check for Hive type ${type}`);
}

const mixedBatch = () =>
  streamEvent([
    streamRecord('1000', predictionItem('api-1', 'api', '2026-11-25T10:15:00.000Z', 'req-1')),
    streamRecord('1001', predictionItem('batch-1', 'batch', '2026-11-25T10:20:00.000Z')),
    streamRecord('1002', predictionItem('stream-1', 'stream', '2026-11-25T11:05:00.000Z')),
    streamRecord('1003', predictionItem('api-2', 'api', '2026-11-25T10:45:00.000Z')),
  ]);

describe('analytics exporter against s3rver', () => {
  beforeEach(emptyBucket);

  it('writes api and stream predictions into their dt=/hour= partitions and skips batch ones', async () => {
    const metrics = recordingMetrics();
    const response = await exporter(bucket, metrics)(mixedBatch());

    expect(response).toEqual({ batchItemFailures: [] });
    expect((await s3.keys(bucket)).sort()).toEqual([
      `${prefix}dt=2026-11-25/hour=10/stream-1000-1003.json`,
      `${prefix}dt=2026-11-25/hour=11/stream-1000-1003.json`,
    ]);
    const hour10 = await linesOf(`${prefix}dt=2026-11-25/hour=10/stream-1000-1003.json`);
    expect(hour10.map((r) => r.predictionId)).toEqual(['api-1', 'api-2']);
    const hour11 = await linesOf(`${prefix}dt=2026-11-25/hour=11/stream-1000-1003.json`);
    expect(hour11).toEqual([expect.objectContaining({ predictionId: 'stream-1', source: 'stream' })]);
    const all = [...hour10, ...hour11];
    expect(all.some((r) => r.source === 'batch')).toBe(false);
    expect(metrics.counts).toMatchObject({ RecordsExported: 3, RecordsSkipped: 1 });
  });

  it('writes lines whose fields are the Glue columns with their types', async () => {
    await exporter()(mixedBatch());
    const columns = new Map(predictionColumns.map((c) => [c.name, c.type]));
    const lines = (await Promise.all((await s3.keys(bucket)).map((key) => linesOf(key)))).flat();
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      for (const [key, value] of Object.entries(line)) {
        const type = columns.get(key.toLowerCase());
        expect([key, type !== undefined && matchesHiveType(value, type)]).toEqual([key, true]);
      }
      const present = Object.keys(line).map((k) => k.toLowerCase());
      // Each task leaves the other's prediction columns out (these are classifiers' lines).
      const optional = ['requestid', 'modellatencyms', 'predictedvalue'];
      expect([...columns.keys()].filter((c) => !present.includes(c) && !optional.includes(c))).toEqual([]);
    }
    expect(lines.find((l) => l.predictionId === 'api-1')).toMatchObject({
      requestId: 'req-1',
      predictedLabel: 'setosa',
      probabilities: [0.9, 0.07, 0.03],
    });
  });

  it('overwrites the same objects when the same batch is retried, adding no duplicate', async () => {
    await exporter()(mixedBatch());
    const first = (await s3.keys(bucket)).sort();
    const response = await exporter()(mixedBatch());

    expect(response).toEqual({ batchItemFailures: [] });
    expect((await s3.keys(bucket)).sort()).toEqual(first);
    const lines = (await Promise.all(first.map((key) => linesOf(key)))).flat();
    expect(lines.map((l) => l.predictionId).sort()).toEqual(['api-1', 'api-2', 'stream-1']);
  });

  it('writes no object for a batch of batch-source predictions only', async () => {
    const response = await exporter()(
      streamEvent([streamRecord('2000', predictionItem('b', 'batch', '2026-11-25T10:00:00.000Z'))]),
    );
    expect(response).toEqual({ batchItemFailures: [] });
    expect(await s3.keys(bucket)).toEqual([]);
  });

  it('writes the records before a malformed one and reports it and the rest for retry', async () => {
    const errors: string[] = [];
    const log: ExportLog = { info: () => undefined, error: (message) => errors.push(message) };
    const response = await exporter(
      bucket,
      recordingMetrics(),
      log,
    )(
      streamEvent([
        streamRecord('3000', predictionItem('ok', 'api', '2026-11-25T10:00:00.000Z')),
        streamRecord('3001', { predictionId: 'broken', source: 'api' }),
        streamRecord('3002', predictionItem('after', 'api', '2026-11-25T10:00:00.000Z')),
      ]),
    );

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: '3001' }, { itemIdentifier: '3002' }]);
    expect(await s3.keys(bucket)).toEqual([`${prefix}dt=2026-11-25/hour=10/stream-3000-3000.json`]);
    expect(
      (await linesOf(`${prefix}dt=2026-11-25/hour=10/stream-3000-3000.json`)).map((l) => l.predictionId),
    ).toEqual(['ok']);
    expect(errors).toHaveLength(1);
  });

  it('reports the whole batch when a write fails, so the retry starts at the same first record', async () => {
    const response = await exporter('analytics-missing-bucket')(mixedBatch());
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(['1000', '1001', '1002', '1003']);
    expect(await s3.keys(bucket)).toEqual([]);
  });
});

describe('exportDepsFromEnv', () => {
  it('refuses to start without ANALYTICS_BUCKET, naming the variable', () => {
    expect(() => exportDepsFromEnv({})).toThrow('Environment variable ANALYTICS_BUCKET must be set');
  });

  it('defaults the prefix to the Glue table location', () => {
    expect(exportDepsFromEnv({ ANALYTICS_BUCKET: bucket }).prefix).toBe(prefix);
    expect(exportDepsFromEnv({ ANALYTICS_BUCKET: bucket, ANALYTICS_PREFIX: 'x/' }).prefix).toBe('x/');
  });
});
