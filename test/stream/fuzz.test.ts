import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { KinesisStreamRecord } from 'aws-lambda';
import { createPredictionStore } from '../../services/inference/adapters/predictions-table';
import { createSageMakerEndpoint } from '../../services/inference/adapters/sagemaker-endpoint';
import { createDeadLetterQueue } from '../../services/stream/adapters/dead-letter-queue';
import { createConsumerHandler } from '../../services/stream/consumer-handler';
import { planRecord, type PoisonRecordMessage } from '../../services/stream/records';
import { startSqsStandIn, type SqsStandIn } from '../support/aws-json-stand-ins';
import { startPredictionsTable, type LocalPredictionsTable } from '../support/dynalite';
import { fuzzBodies } from '../support/fuzz-inputs';
import { localCredentials, localRegion } from '../support/local-aws';
import { startModelEndpoint, type LocalModelEndpoint } from '../support/model-endpoint';

/**
 * No client input is classified as transient by the stream consumer: with a healthy endpoint,
 * 400 seeded hostile payloads end stored or as one payload-carrying poison message each, and
 * the batch response reports no failure (which the ESM would retry as if the model had failed).
 */
const queueUrl = 'http://127.0.0.1/000000000000/fuzz-dlq';
const streamArn = 'arn:aws:kinesis:us-east-1:000000000000:stream/fuzz';
let table: LocalPredictionsTable;
let endpoint: LocalModelEndpoint;
let sqs: SqsStandIn;
let sqsClient: SQSClient;
let sagemaker: SageMakerRuntimeClient;

function kinesisRecord(data: string, sequence: number): KinesisStreamRecord {
  const sequenceNumber = String(49_000_000_000_000_000_000_000n + BigInt(sequence));
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: `p-${sequence % 7}`,
      sequenceNumber,
      data: Buffer.from(data, 'utf8').toString('base64'),
      approximateArrivalTimestamp: 1_764_000_000 + sequence,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `shardId-000000000000:${sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::000000000000:role/consumer',
    awsRegion: localRegion,
    eventSourceARN: streamArn,
  };
}

beforeAll(async () => {
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  [table, endpoint, sqs] = await Promise.all([
    startPredictionsTable(),
    startModelEndpoint(),
    startSqsStandIn(),
  ]);
  sqsClient = new SQSClient({ endpoint: sqs.url, region: localRegion, credentials: localCredentials });
  sagemaker = new SageMakerRuntimeClient({
    endpoint: endpoint.url,
    region: localRegion,
    credentials: localCredentials,
  });
});

afterAll(async () => {
  delete process.env.POWERTOOLS_METRICS_DISABLED;
  sqsClient.destroy();
  sagemaker.destroy();
  await Promise.all([table.close(), endpoint.close(), sqs.close()]);
});

describe('stream consumer fuzz (seeded)', () => {
  const records = fuzzBodies(2026, 400, 4).map(kinesisRecord);

  it('classifies every client input as stored or permanent, never as a transient failure', async () => {
    const consumer = createConsumerHandler({
      model: createSageMakerEndpoint({ client: sagemaker, endpointName: endpoint.endpointName }),
      store: createPredictionStore({ client: table.client, tableName: table.tableName }),
      parameters: {
        inputSchema: async () => ({ task: 'classification' as const, featureCount: 4, versions: ['v7.0.0'] }),
      },
      deadLetters: createDeadLetterQueue({ client: sqsClient, queueUrl }),
      logger: new Logger({ logLevel: 'SILENT' }),
      metrics: new Metrics({ namespace: 'Test', logger: new Logger({ logLevel: 'SILENT' }) }),
    });
    for (let start = 0; start < records.length; start += 100) {
      const response = await consumer({ Records: records.slice(start, start + 100) });
      expect(response).toEqual({ batchItemFailures: [] });
    }
    const poison = sqs.messages().map((body) => JSON.parse(body) as PoisonRecordMessage);
    const items = await table.items();
    const stored = new Map(
      items.map((item) => [String(item.predictionId), JSON.stringify(item.inputFeatures)]),
    );
    const misplaced: string[] = [];
    for (const record of records) {
      const planned = planRecord(record, { featureCount: 4 });
      const messages = poison.filter((m) => m.sequenceNumber === record.kinesis.sequenceNumber);
      // This record's features are the stored ones (a repeated requestId with other features is poison).
      const isStored =
        planned.kind === 'valid' &&
        stored.get(planned.predictionId) === JSON.stringify(planned.request.features);
      if (
        messages.length + (isStored ? 1 : 0) !== 1 ||
        (messages[0] && messages[0].data !== record.kinesis.data)
      )
        misplaced.push(Buffer.from(record.kinesis.data, 'base64').toString('utf8'));
    }
    expect(misplaced).toEqual([]);
    expect(stored.size).toBeGreaterThan(10);
    expect(poison.length).toBeGreaterThan(100);
  }, 120_000);
});
