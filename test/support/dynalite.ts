import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { localCredentials, localRegion } from './local-aws';
import { predictionsTableInput } from '../../services/local/predictions-table';

// dynalite ships no type declarations.
const dynalite = createRequire(__filename)('dynalite') as (options: Record<string, unknown>) => Server;

/** A dynalite server holding a predictions table shaped like CONTRACTS.md. */
export interface LocalPredictionsTable {
  /** For `AWS_ENDPOINT_URL_DYNAMODB` or a client's `endpoint`. */
  readonly endpoint: string;
  readonly tableName: string;
  readonly client: DynamoDBDocumentClient;
  /** Every item, via Scan (tests only: the tables stay small). */
  items(): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

/**
 * Starts dynalite on a free loopback port and creates the predictions table:
 * key `predictionId`, GSI `modelVersionIndex` (`modelVersion` + `timestamp`).
 */
export async function startPredictionsTable(tableName = 'predictions'): Promise<LocalPredictionsTable> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const raw = new DynamoDBClient({ endpoint, region: localRegion, credentials: localCredentials });
  await raw.send(new CreateTableCommand(predictionsTableInput(tableName)));
  const client = DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } });
  return {
    endpoint,
    tableName,
    client,
    async items() {
      const found: Record<string, unknown>[] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const page = await client.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: start }));
        found.push(...(page.Items ?? []));
        start = page.LastEvaluatedKey;
      } while (start);
      return found;
    },
    async close() {
      client.destroy();
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
