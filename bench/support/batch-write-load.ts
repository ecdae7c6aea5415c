/**
 * Child process of `npm run bench:batch`: the ceiling of the DynamoDB stand-in alone. Writes N items
 * shaped like the scorer's through BatchWriteItem (25 per request, C requests in flight) and prints
 * `{"rows", "seconds"}`. Arguments: ENDPOINT TABLE ROWS CONCURRENCY [ID_PREFIX] (for loaders running side by side).
 */
import { BatchWriteItemCommand, DynamoDBClient, type WriteRequest } from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { itemAttributes, type PredictionItem } from '../../services/batch/adapters/predictions-table';

async function main(): Promise<void> {
  const [endpoint, table, rowsArg, concurrencyArg, idPrefix = ''] = process.argv.slice(2);
  const rows = Number(rowsArg);
  const concurrency = Number(concurrencyArg);
  // The scorer's own attribute values, so the client spends as little CPU as the scorer does on them.
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    requestHandler: new NodeHttpHandler({ httpAgent: { keepAlive: true, maxSockets: 64 } }),
  });
  const item = (i: number): PredictionItem => ({
    predictionId: `${idPrefix}ceiling-${i}`,
    timestamp: '2026-12-01T00:00:00.000Z',
    modelVersion: 'v1.0.0',
    invokedVariant: 'in-process',
    prediction: { label: 'setosa', probabilities: [0.97, 0.02, 0.01] },
    inputFeatures: [5.1, 3.5, 1.4, 0.2],
    expirationTime: 1767225600,
    source: 'batch',
    modelLatencyMs: 1.2,
  });
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < rows) {
        const first = next;
        next = Math.min(rows, next + 25);
        let requests: WriteRequest[] = Array.from({ length: next - first }, (_, k) => ({
          PutRequest: { Item: itemAttributes(item(first + k)) },
        }));
        while (requests.length > 0) {
          const { UnprocessedItems } = await client.send(
            new BatchWriteItemCommand({ RequestItems: { [table!]: requests } }),
          );
          requests = UnprocessedItems?.[table!] ?? [];
        }
      }
    }),
  );
  process.stdout.write(JSON.stringify({ rows, seconds: (performance.now() - started) / 1000 }) + '\n');
  client.destroy();
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
