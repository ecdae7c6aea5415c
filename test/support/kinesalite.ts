import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import {
  CreateStreamCommand,
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { KinesisStreamRecord } from 'aws-lambda';
import { localCredentials, localRegion } from './local-aws';

// kinesalite ships no type declarations.
const kinesalite = createRequire(__filename)('kinesalite') as (options: Record<string, unknown>) => Server;

/** A kinesalite server with one single-shard stream. */
export interface LocalStream {
  readonly client: KinesisClient;
  readonly streamName: string;
  readonly streamArn: string;
  /** Puts each payload as one record, in order (partition key per record). */
  put(payloads: readonly string[]): Promise<void>;
  /** Reads the whole shard back and shapes the records like Lambda's Kinesis event. */
  readAsLambdaRecords(): Promise<KinesisStreamRecord[]>;
  close(): Promise<void>;
}

/** Starts kinesalite on a free loopback port and creates a one-shard stream (one shard keeps order simple). */
export async function startLocalStream(streamName = 'predictions-stream'): Promise<LocalStream> {
  const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 10 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = new KinesisClient({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region: localRegion,
    credentials: localCredentials,
    requestHandler: new NodeHttpHandler(),
  });
  await client.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: 1 }));
  const description = await client.send(new DescribeStreamCommand({ StreamName: streamName }));
  const streamArn = description.StreamDescription!.StreamARN!;
  const shardId = description.StreamDescription!.Shards![0]!.ShardId!;
  return {
    client,
    streamName,
    streamArn,
    async put(payloads) {
      for (let start = 0; start < payloads.length; start += 500) {
        const output = await client.send(
          new PutRecordsCommand({
            StreamName: streamName,
            Records: payloads
              .slice(start, start + 500)
              .map((payload, i) => ({ PartitionKey: `key-${start + i}`, Data: Buffer.from(payload) })),
          }),
        );
        if (output.FailedRecordCount)
          throw new Error(`kinesalite refused ${output.FailedRecordCount} records`);
      }
    },
    async readAsLambdaRecords() {
      let iterator = (
        await client.send(
          new GetShardIteratorCommand({
            StreamName: streamName,
            ShardId: shardId,
            ShardIteratorType: 'TRIM_HORIZON',
          }),
        )
      ).ShardIterator;
      const records: KinesisStreamRecord[] = [];
      while (iterator) {
        const page = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
        for (const record of page.Records ?? []) {
          records.push({
            kinesis: {
              kinesisSchemaVersion: '1.0',
              partitionKey: record.PartitionKey!,
              sequenceNumber: record.SequenceNumber!,
              data: Buffer.from(record.Data!).toString('base64'),
              approximateArrivalTimestamp: record.ApproximateArrivalTimestamp!.getTime() / 1000,
            },
            eventSource: 'aws:kinesis',
            eventVersion: '1.0',
            eventID: `${shardId}:${record.SequenceNumber}`,
            eventName: 'aws:kinesis:record',
            invokeIdentityArn: 'arn:aws:iam::000000000000:role/consumer',
            awsRegion: localRegion,
            eventSourceARN: streamArn,
          });
        }
        iterator = page.Records?.length ? page.NextShardIterator : undefined;
      }
      return records;
    },
    async close() {
      client.destroy();
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
