import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

// dynalite ships no type declarations.
const dynalite = createRequire(__filename)('dynalite') as (options: Record<string, unknown>) => Server;

/** Region and credentials the local stand-ins accept; nothing local can reach AWS with them. */
export const localAws = {
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
} as const;

/**
 * The predictions table of docs/CONTRACTS.md as `CreateTable` input, mirroring the DataStore
 * construct: key `predictionId`, GSI `modelVersionIndex` (`modelVersion` + `timestamp`, all attributes).
 */
export function predictionsTableInput(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    KeySchema: [{ AttributeName: 'predictionId', KeyType: 'HASH' }],
    AttributeDefinitions: [
      { AttributeName: 'predictionId', AttributeType: 'S' },
      { AttributeName: 'modelVersion', AttributeType: 'S' },
      { AttributeName: 'timestamp', AttributeType: 'S' },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: 'modelVersionIndex',
        KeySchema: [
          { AttributeName: 'modelVersion', KeyType: 'HASH' },
          { AttributeName: 'timestamp', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ],
  };
}

/** An in-memory DynamoDB (dynalite) holding the predictions table. */
export interface LocalTable {
  readonly endpoint: string;
  readonly tableName: string;
  close(): Promise<void>;
}

/**
 * Starts dynalite on a free loopback port with the predictions table of
 * CONTRACTS.md: key `predictionId`, GSI `modelVersionIndex` (`modelVersion` + `timestamp`).
 */
export async function startLocalPredictionsTable(tableName = 'predictions'): Promise<LocalTable> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new DynamoDBClient({ endpoint, ...localAws });
  try {
    await client.send(new CreateTableCommand(predictionsTableInput(tableName)));
  } finally {
    client.destroy();
  }
  return {
    endpoint,
    tableName,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
