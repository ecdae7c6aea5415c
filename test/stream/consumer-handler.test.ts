import { FullBatchFailureError } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { KinesisStreamRecord } from 'aws-lambda';
import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { SSMClient } from '@aws-sdk/client-ssm';
import { createModelParameters } from '../../services/inference/adapters/model-parameters';
import { createPredictionStore } from '../../services/inference/adapters/predictions-table';
import { createSageMakerEndpoint } from '../../services/inference/adapters/sagemaker-endpoint';
import {
  predictionIdForRequestId,
  predictionIdForStreamRecord,
  STREAM_NAMESPACE,
} from '../../services/inference/prediction';
import { createDeadLetterQueue } from '../../services/stream/adapters/dead-letter-queue';
import { createConsumerHandler, type ConsumerHandler } from '../../services/stream/consumer-handler';
import type { PoisonRecordMessage } from '../../services/stream/records';
import {
  startSqsStandIn,
  startSsmStandIn,
  type SqsStandIn,
  type SsmStandIn,
} from '../support/aws-json-stand-ins';
import { startPredictionsTable, type LocalPredictionsTable } from '../support/dynalite';
import { runEventSourceMapping, type KinesisFailureRecord } from '../support/kinesis-event-source-mapping';
import { startLocalStream, type LocalStream } from '../support/kinesalite';
import { localCredentials, localRegion } from '../support/local-aws';
import {
  startModelEndpoint,
  unreachableModelEndpoint,
  type LocalModelEndpoint,
} from '../support/model-endpoint';

const permanentFailure = 99; // rows starting with it always make the container answer 500
const transientFailure = 77; // rows starting with it fail twice, then succeed
const queueUrl = 'http://127.0.0.1/000000000000/stream-dlq';

let table: LocalPredictionsTable;
let endpoint: LocalModelEndpoint;
let sqs: SqsStandIn;
let ssm: SsmStandIn;
const parameterPrefix = '/ml/dev/model';
let sqsClient: SQSClient;
let sagemaker: SageMakerRuntimeClient;
let transientFailuresLeft = 2;

const rowsOf = (body: string) => (JSON.parse(body) as { instances: number[][] }).instances;

let metricsDisabled: string | undefined;

beforeAll(async () => {
  metricsDisabled = process.env.POWERTOOLS_METRICS_DISABLED;
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  [table, endpoint, sqs] = await Promise.all([
    startPredictionsTable(),
    startModelEndpoint({
      fault: ({ body }) => {
        const rows = rowsOf(body);
        if (rows.some((row) => row[0] === permanentFailure)) return { statusCode: 500, message: 'boom' };
        if (rows.some((row) => row[0] === transientFailure) && transientFailuresLeft > 0) {
          transientFailuresLeft--;
          return { statusCode: 503, message: 'warming up' };
        }
        return undefined;
      },
    }),
    startSqsStandIn(),
  ]);
  ssm = await startSsmStandIn({
    [`${parameterPrefix}/active-version`]: 'v1.0.0',
    [`${parameterPrefix}/versions/v1.0.0`]: JSON.stringify({
      version: 'v1.0.0',
      featureCount: 4,
      labels: [],
    }),
  });
  sqsClient = new SQSClient({ endpoint: sqs.url, region: localRegion, credentials: localCredentials });
  sagemaker = new SageMakerRuntimeClient({
    endpoint: endpoint.url,
    region: localRegion,
    credentials: localCredentials,
  });
});

afterAll(async () => {
  if (metricsDisabled === undefined) delete process.env.POWERTOOLS_METRICS_DISABLED;
  else process.env.POWERTOOLS_METRICS_DISABLED = metricsDisabled;
  sqsClient.destroy();
  sagemaker.destroy();
  await Promise.all([table.close(), endpoint.close(), sqs.close(), ssm.close()]);
});

function consumer(): ConsumerHandler {
  return createConsumerHandler({
    model: createSageMakerEndpoint({ client: sagemaker, endpointName: endpoint.endpointName }),
    store: createPredictionStore({ client: table.client, tableName: table.tableName }),
    // The real registry adapter over an SSM stand-in, so its calls are recorded for the IAM proof.
    parameters: createModelParameters({
      provider: new SSMProvider({
        awsSdkV3Client: new SSMClient({
          endpoint: ssm.url,
          region: localRegion,
          credentials: localCredentials,
        }),
      }),
      prefix: parameterPrefix,
    }),
    deadLetters: createDeadLetterQueue({ client: sqsClient, queueUrl }),
    logger: new Logger({ logLevel: 'SILENT' }),
    metrics: new Metrics({ namespace: 'Test', logger: new Logger({ logLevel: 'SILENT' }) }),
  });
}

const dlqMessages = () =>
  sqs.messages().map((body) => JSON.parse(body) as PoisonRecordMessage | KinesisFailureRecord);
const poisonMessages = () => dlqMessages().filter((m): m is PoisonRecordMessage => 'type' in m);
const failureRecords = () => dlqMessages().filter((m): m is KinesisFailureRecord => 'KinesisBatchInfo' in m);

function idOf(record: KinesisStreamRecord): string {
  const { requestId } = JSON.parse(Buffer.from(record.kinesis.data, 'base64').toString('utf8')) as {
    requestId?: string;
  };
  return requestId === undefined
    ? predictionIdForStreamRecord(record.eventID)
    : predictionIdForRequestId(STREAM_NAMESPACE, requestId);
}

describe('stream consumer through the event source mapping', () => {
  let stream: LocalStream;
  let records: KinesisStreamRecord[];
  const kinds: ('valid' | 'poison' | 'permanent' | 'transient' | 'duplicate')[] = [];
  const poisonPayloads = [
    'not json',
    JSON.stringify({ features: [1, 2, 3] }),
    JSON.stringify({ features: [1, 2, 3, 4], extra: true }),
    '{"features": [1e999, 2, 3, 4]}',
    JSON.stringify([5.1, 3.5, 1.4, 0.2]),
    JSON.stringify({ features: [1, 2, 3, 4], requestId: 'bad id!' }),
  ];

  beforeAll(async () => {
    stream = await startLocalStream();
    const payloads: string[] = [];
    for (let i = 0; i < 70; i++) {
      const features = [4.5 + (i % 30) / 10, 3, 1.4 + (i % 5), 0.2 + (i % 3) / 2];
      if (i % 10 === 3) {
        kinds.push('poison');
        payloads.push(poisonPayloads[i % poisonPayloads.length]!);
      } else if (i === 7 || i === 25 || i === 58) {
        kinds.push('permanent');
        payloads.push(JSON.stringify({ features: [permanentFailure, 1, 1, 1], requestId: `req-${i}` }));
      } else if (i === 31) {
        kinds.push('transient');
        payloads.push(JSON.stringify({ features: [transientFailure, 1, 1, 1] }));
      } else if (i === 50) {
        kinds.push('duplicate'); // a producer retry of record 10
        payloads.push(payloads[10]!);
      } else {
        kinds.push('valid');
        payloads.push(JSON.stringify(i % 2 === 0 ? { features, requestId: `req-${i}` } : { features }));
      }
    }
    await stream.put(payloads);
    records = await stream.readAsLambdaRecords();
    await runEventSourceMapping(records, consumer(), {
      // Smaller than the deployed 100 so that 70 records make two batches and the file stays fast.
      batchSize: 40,
      streamArn: stream.streamArn,
      onFailure: async (message) => {
        await sqsClient.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: message }));
      },
    });
  });

  afterAll(() => stream.close());

  it('reads back every record put on the stream', () => {
    expect(records).toHaveLength(70);
  });

  it('ends every record in the table or the DLQ, exactly once', async () => {
    const items = await table.items();
    const storedIds = new Set(items.map((i) => String(i.predictionId)));
    expect(storedIds.size).toBe(items.length);
    const ranges = failureRecords().map((f) => [
      BigInt(f.KinesisBatchInfo.startSequenceNumber),
      BigInt(f.KinesisBatchInfo.endSequenceNumber),
    ]);
    const poisonSeqs = poisonMessages().map((m) => m.sequenceNumber);
    expect(new Set(poisonSeqs).size).toBe(poisonSeqs.length);

    records.forEach((record, index) => {
      const seq = BigInt(record.kinesis.sequenceNumber);
      const stored = storedIds.has(idOf(record));
      const poisoned = poisonSeqs.filter((s) => s === record.kinesis.sequenceNumber).length;
      const inRanges = ranges.filter(([from, to]) => from! <= seq && seq <= to!).length;
      const where = { index, kind: kinds[index], stored, poisoned, inRanges };
      // A failure range covers the rest of its batch; a record in it that is stored is done (re-drive is idempotent).
      const placements = (stored ? 1 : 0) + poisoned + (stored ? 0 : inRanges);
      expect({ ...where, placements }).toEqual({ ...where, placements: 1 });
      if (kinds[index] === 'valid' || kinds[index] === 'transient' || kinds[index] === 'duplicate') {
        expect({ ...where, stored: true }).toEqual(where);
      }
      if (kinds[index] === 'permanent') expect({ ...where, stored: false, inRanges: 1 }).toEqual(where);
    });
  });

  it('stores one item per distinct record with source "stream" and the scored features', async () => {
    const expected = new Set(
      records.filter((_, i) => ['valid', 'transient', 'duplicate'].includes(kinds[i]!)).map(idOf),
    );
    const items = await table.items();
    expect(new Set(items.map((i) => i.predictionId))).toEqual(expected);
    expect(items).toHaveLength(expected.size);
    for (const item of items) {
      expect(item).toMatchObject({ source: 'stream', modelVersion: expect.stringMatching(/^v1\.[01]\.0$/) });
      expect((item.inputFeatures as number[])[0]).not.toBe(permanentFailure);
      expect(item.expirationTime).toBe(Math.floor(Date.parse(String(item.timestamp)) / 1000) + 30 * 86_400);
    }
  });

  it('sends poison records with payload and reason, and failed ranges as ESM failure records', () => {
    for (const message of poisonMessages()) {
      const record = records.find((r) => r.kinesis.sequenceNumber === message.sequenceNumber)!;
      expect(message.data).toBe(record.kinesis.data);
      expect(message.reason.code).toMatch(/^Invalid/);
    }
    expect(poisonMessages().length).toBeGreaterThan(0);
    for (const failure of failureRecords()) {
      expect(failure.requestContext).toMatchObject({
        condition: 'RetryAttemptsExhausted',
        approximateInvokeCount: 4,
      });
    }
    // Records 7 and 25 share the first batch: its range starts at 7 and covers 25.
    expect(failureRecords().length).toBe(2);
  });
});

describe('stream consumer, one invocation', () => {
  let stream: LocalStream;
  beforeAll(async () => {
    stream = await startLocalStream('single-invocation');
  });
  afterAll(() => stream.close());

  it('scores a clean batch in one InvokeEndpoint call and reports no failures', async () => {
    const before = endpoint.standIn.invocations.length;
    await stream.put(
      Array.from({ length: 50 }, (_, i) => JSON.stringify({ features: [5, 3, 1 + i / 10, 0.2] })),
    );
    const records = (await stream.readAsLambdaRecords()).slice(-50);
    const response = await consumer()({ Records: records });
    expect(response).toEqual({ batchItemFailures: [] });
    expect(endpoint.standIn.invocations.length - before).toBe(1);
  });

  it('reports only model failures, DLQs poison before them and leaves poison after them for redelivery', async () => {
    await stream.put([
      JSON.stringify({ features: [5, 3, 1, 0.2] }),
      'poison-before',
      JSON.stringify({ features: [permanentFailure, 3, 1, 0.2] }),
      JSON.stringify({ features: [6, 3, 4, 1.2] }),
      'poison-after',
    ]);
    const records = (await stream.readAsLambdaRecords()).slice(-5);
    const dlqBefore = poisonMessages().length;
    const response = await consumer()({ Records: records });
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: records[2]!.kinesis.sequenceNumber }]);
    const sent = poisonMessages().slice(dlqBefore);
    expect(sent.map((m) => m.sequenceNumber)).toEqual([records[1]!.kinesis.sequenceNumber]);
    expect(sent[0]!.reason).toEqual({ code: 'InvalidJson', message: expect.any(String) });
    const stored = new Set((await table.items()).map((i) => i.predictionId));
    expect(stored.has(predictionIdForStreamRecord(records[3]!.eventID))).toBe(true);
  });

  it('fails the whole batch, without DLQ traffic, when the endpoint is unreachable', async () => {
    const unreachable = createConsumerHandler({
      model: await unreachableModelEndpoint(endpoint.endpointName),
      store: createPredictionStore({ client: table.client, tableName: table.tableName }),
      parameters: { activeModel: async () => ({ version: 'v1.0.0', featureCount: 4, labels: [] }) },
      deadLetters: createDeadLetterQueue({ client: sqsClient, queueUrl }),
      logger: new Logger({ logLevel: 'SILENT' }),
      metrics: new Metrics({ namespace: 'Test', logger: new Logger({ logLevel: 'SILENT' }) }),
    });
    const records = (await stream.readAsLambdaRecords()).slice(0, 3);
    const dlqBefore = sqs.messages().length;
    // Every record failed: Powertools throws, so the ESM sees a function error and bisects the batch.
    await expect(unreachable({ Records: records })).rejects.toThrow(FullBatchFailureError);
    expect(sqs.messages()).toHaveLength(dlqBefore);
  });
});
