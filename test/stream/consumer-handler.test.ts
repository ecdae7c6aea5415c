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

const brokenModel = 99; // rows starting with it always make the container answer 500 (a model failure)
const refusedInput = 98; // rows starting with it make the container answer 400 (input it cannot score)
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
        if (rows.some((row) => row[0] === brokenModel)) return { statusCode: 500, message: 'boom' };
        if (rows.some((row) => row[0] === refusedInput)) return { statusCode: 400, message: 'refused' };
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
  let requestId: string | undefined;
  try {
    ({ requestId } = JSON.parse(Buffer.from(record.kinesis.data, 'base64').toString('utf8')) as {
      requestId?: string;
    });
  } catch {
    // Not JSON: never stored, its payload key is as good as any.
  }
  return requestId === undefined
    ? predictionIdForStreamRecord(record.kinesis.data)
    : predictionIdForRequestId(STREAM_NAMESPACE, requestId);
}

type Kind = 'valid' | 'poison' | 'refused' | 'broken' | 'transient' | 'duplicate' | 'producer-retry';
const permanentKinds: readonly Kind[] = ['poison', 'refused'];
const storedKinds: readonly Kind[] = ['valid', 'transient', 'duplicate', 'producer-retry'];

describe('stream consumer through the event source mapping', () => {
  let stream: LocalStream;
  let records: KinesisStreamRecord[];
  const kinds: Kind[] = [];
  const poisonPayloads = [
    'not json',
    JSON.stringify({ features: [1, 2, 3] }),
    JSON.stringify({ features: [1, 2, 3, 4], extra: true }),
    '{"features": [1e999, 2, 3, 4]}',
    JSON.stringify([5.1, 3.5, 1.4, 0.2]),
    JSON.stringify({ features: [1, 2, 3, 4], requestId: 'bad id!' }),
    // Numbers the model or the table cannot take (issue 12): permanent, never retried.
    JSON.stringify({ features: [1e16, 2, 3, 4] }),
    JSON.stringify({ features: [1, 2 ** 53, 3, 4], requestId: 'big' }),
    JSON.stringify({ features: [1, 2, 1e-200, 4] }),
    JSON.stringify({ features: [1, 2, 3, 3.5e38] }),
    JSON.stringify({ features: [1e39, 2, 3, 4] }),
  ];

  beforeAll(async () => {
    stream = await startLocalStream();
    const payloads: string[] = [];
    for (let i = 0; i < 80; i++) {
      const features = [4.5 + (i % 30) / 10, 3, 1.4 + (i % 5), 0.2 + (i % 3) / 2 + i / 1000];
      if (i % 10 === 3 || i % 10 === 6) {
        kinds.push('poison');
        payloads.push(poisonPayloads[Math.floor(i / 5) % poisonPayloads.length]!);
      } else if (i === 7 || i === 58) {
        kinds.push('broken');
        payloads.push(JSON.stringify({ features: [brokenModel, 1, 1, 1], requestId: `req-${i}` }));
      } else if (i === 9 || i === 25 || i === 67) {
        kinds.push('refused');
        payloads.push(JSON.stringify({ features: [refusedInput, 1, 1, i] }));
      } else if (i === 31) {
        kinds.push('transient');
        payloads.push(JSON.stringify({ features: [transientFailure, 1, 1, 1] }));
      } else if (i === 50) {
        kinds.push('duplicate'); // a producer retry of record 10, which has a requestId
        payloads.push(payloads[10]!);
      } else if (i === 51) {
        kinds.push('producer-retry'); // a producer retry of record 11, which has none
        payloads.push(payloads[11]!);
      } else {
        kinds.push('valid');
        payloads.push(JSON.stringify(i % 2 === 0 ? { features, requestId: `req-${i}` } : { features }));
      }
    }
    await stream.put(payloads);
    records = await stream.readAsLambdaRecords();
    await runEventSourceMapping(records, consumer(), {
      // Smaller than the deployed 100 so that 80 records make two batches and the file stays fast.
      batchSize: 40,
      streamArn: stream.streamArn,
      onFailure: async (message) => {
        await sqsClient.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: message }));
      },
    });
  });

  afterAll(() => stream.close());

  it('reads back every record put on the stream', () => {
    expect(records).toHaveLength(80);
  });

  it('ends every record in the table, as a payload-carrying poison message, or (model failures only) in a failure range', async () => {
    const items = await table.items();
    const storedIds = new Set(items.map((i) => String(i.predictionId)));
    expect(storedIds.size).toBe(items.length);
    const ranges = failureRecords().map((f) => [
      BigInt(f.KinesisBatchInfo.startSequenceNumber),
      BigInt(f.KinesisBatchInfo.endSequenceNumber),
    ]);
    records.forEach((record, index) => {
      const seq = BigInt(record.kinesis.sequenceNumber);
      const stored = storedIds.has(idOf(record));
      const messages = poisonMessages().filter((m) => m.sequenceNumber === record.kinesis.sequenceNumber);
      const inRanges = ranges.filter(([from, to]) => from! <= seq && seq <= to!).length;
      const kind = kinds[index]!;
      const where = { index, kind, stored, poisoned: messages.length > 0, inRanges };
      if (storedKinds.includes(kind)) expect({ ...where, stored: true, poisoned: false }).toEqual(where);
      if (permanentKinds.includes(kind)) {
        expect({ ...where, stored: false, poisoned: true }).toEqual(where);
        // Redelivered with a failed record it may be sent again: the copies are the same message.
        expect(new Set(messages.map((m) => JSON.stringify(m))).size).toBe(1);
        expect(messages[0]!.data).toBe(record.kinesis.data);
      }
      if (kind === 'broken') expect({ ...where, stored: false, poisoned: false, inRanges: 1 }).toEqual(where);
    });
  });

  it('sends permanent input errors with their payload and reason, never as a failure range alone', () => {
    const byCode = new Map<string, number>();
    for (const message of poisonMessages())
      byCode.set(message.reason.code, (byCode.get(message.reason.code) ?? 0) + 1);
    expect([...byCode.keys()].sort()).toEqual(
      ['InvalidFeatures', 'InvalidJson', 'InvalidRequest', 'InvalidRequestId', 'ModelRejectedInput'].sort(),
    );
    const numeric = records.filter((r) =>
      /10000000000000000|9007199254740992|1e-200|3\.5e\+?38|1e\+?39/.test(
        Buffer.from(r.kinesis.data, 'base64').toString(),
      ),
    );
    expect(numeric.length).toBeGreaterThanOrEqual(5);
    for (const record of numeric) {
      const message = poisonMessages().find((m) => m.sequenceNumber === record.kinesis.sequenceNumber);
      expect(message?.reason.code).toBe('InvalidFeatures');
    }
  });

  it('stores one item per distinct request with source "stream": producer retries collapse', async () => {
    const expected = new Set(records.filter((_, i) => storedKinds.includes(kinds[i]!)).map(idOf));
    const items = await table.items();
    expect(new Set(items.map((i) => i.predictionId))).toEqual(expected);
    expect(items).toHaveLength(expected.size);
    expect(idOf(records[51]!)).toBe(idOf(records[11]!));
    expect(items.filter((i) => i.predictionId === idOf(records[11]!))).toHaveLength(1);
    for (const item of items) {
      expect(item).toMatchObject({ source: 'stream', modelVersion: expect.stringMatching(/^v2\.[01]\.0$/) });
      expect((item.inputFeatures as number[])[0]).not.toBe(brokenModel);
      expect(item.expirationTime).toBe(Math.floor(Date.parse(String(item.timestamp)) / 1000) + 30 * 86_400);
    }
  });

  it('retries only model failures, and hands them on as ESM failure records after the retries', () => {
    for (const failure of failureRecords()) {
      expect(failure.requestContext).toMatchObject({
        condition: 'RetryAttemptsExhausted',
        approximateInvokeCount: 4,
      });
    }
    // Records 7 and 58 are in different batches: one range each, starting at them.
    expect(failureRecords().map((f) => f.KinesisBatchInfo.startSequenceNumber)).toEqual([
      records[7]!.kinesis.sequenceNumber,
      records[58]!.kinesis.sequenceNumber,
    ]);
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

  it('reports only transient failures and DLQs every permanent error at once, also after a failed record', async () => {
    await stream.put([
      JSON.stringify({ features: [5, 3, 1, 0.2] }),
      'poison-before',
      JSON.stringify({ features: [brokenModel, 3, 1, 0.2] }),
      JSON.stringify({ features: [6, 3, 4, 1.2] }),
      'poison-after',
      JSON.stringify({ features: [3.5e38, 3, 4, 1.2] }),
      JSON.stringify({ features: [refusedInput, 3, 4, 1.2] }),
    ]);
    const records = (await stream.readAsLambdaRecords()).slice(-7);
    const dlqBefore = poisonMessages().length;
    const response = await consumer()({ Records: records });
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: records[2]!.kinesis.sequenceNumber }]);
    const sent = poisonMessages().slice(dlqBefore);
    expect(sent.map((m) => [m.sequenceNumber, m.reason.code, m.data])).toEqual([
      [records[1]!.kinesis.sequenceNumber, 'InvalidJson', records[1]!.kinesis.data],
      [records[4]!.kinesis.sequenceNumber, 'InvalidJson', records[4]!.kinesis.data],
      [records[5]!.kinesis.sequenceNumber, 'InvalidFeatures', records[5]!.kinesis.data],
      [records[6]!.kinesis.sequenceNumber, 'ModelRejectedInput', records[6]!.kinesis.data],
    ]);
    const stored = new Set((await table.items()).map((i) => i.predictionId));
    expect(stored.has(predictionIdForStreamRecord(records[3]!.kinesis.data))).toBe(true);
  });

  it('stores a producer retry of a record without requestId once, though it has a new sequence number', async () => {
    const payload = JSON.stringify({ features: [5.5, 2.5, 4.1, 1.3] });
    await stream.put([payload]);
    await stream.put([payload]);
    const records = (await stream.readAsLambdaRecords()).slice(-2);
    expect(records[0]!.kinesis.sequenceNumber).not.toBe(records[1]!.kinesis.sequenceNumber);
    const before = (await table.items()).length;
    await consumer()({ Records: [records[0]!] });
    await consumer()({ Records: [records[1]!] });
    expect((await table.items()).length).toBe(before + 1);
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
