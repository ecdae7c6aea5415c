import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { S3Client, CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { predictionsTableInput } from '../../../services/local/predictions-table';

// s3rver and dynalite ship no type declarations.
const load = createRequire(__filename);

interface KoaContext {
  readonly method: string;
  readonly path: string;
  get(header: string): string;
  status: number;
  type: string;
  body: unknown;
}
type Middleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  readonly middleware: Middleware[];
  readonly store: {
    getMetadata(bucket: string, key: string): Promise<{ etag: string }>;
    getResourcePath(bucket: string, key: string, resource: string): string;
    deleteObject(bucket: string, key: string): Promise<void>;
  };
}

/**
 * s3rver's delete also removes the key's parent folders once they look empty; a put racing it under the
 * same prefix (another shard's checkpoint) then finds its folder gone and crashes the process. S3 has no
 * folders, so deletes here remove the object's files only.
 */
function deleteWithoutFolderCleanup(store: S3rverInstance['store']): void {
  store.deleteObject = async (bucket, key) => {
    await Promise.all(
      ['object', 'object.md5', 'metadata.json'].map((resource) =>
        rm(store.getResourcePath(bucket, key, resource), { force: true }),
      ),
    );
  };
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverInstance;
type Dynalite = (options: Record<string, unknown>) => Server;

const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** A running s3rver with its client. */
export interface LocalS3 {
  readonly endpoint: string;
  readonly client: S3Client;
  /** Every key in a bucket, optionally under a prefix. */
  keys(bucket: string, prefix?: string): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * s3rver 3.7 ignores ETag conditions; S3 answers 412 PreconditionFailed when `If-Match` (GetObject,
 * HeadObject, DeleteObject) or `x-amz-copy-source-if-match` (CopyObject) names another version than the
 * current one. This middleware, first in s3rver's chain, adds that (path-style requests).
 */
function etagConditions(store: S3rverInstance['store']): Middleware {
  const currentEtag = async (bucket: string, key: string): Promise<string | undefined> =>
    store.getMetadata(bucket, key).then(
      (metadata) => metadata.etag,
      () => undefined,
    );
  const split = (path: string): [string, string] => {
    const [bucket, ...key] = decodeURIComponent(path.replace(/^\//, '').split('?')[0]).split('/');
    return [bucket!, key.join('/')];
  };
  return async (ctx, next) => {
    const ifMatch = ctx.get('if-match');
    const copyIfMatch = ctx.get('x-amz-copy-source-if-match');
    const [bucket, key] = copyIfMatch ? split(ctx.get('x-amz-copy-source')) : split(ctx.path);
    const expected = copyIfMatch || ifMatch;
    if (expected && key) {
      const current = await currentEtag(bucket, key);
      if (current !== undefined && current !== expected) {
        ctx.status = 412;
        ctx.type = 'application/xml';
        ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message><Condition>${copyIfMatch ? 'x-amz-copy-source-If-Match' : 'If-Match'}</Condition></Error>`;
        return;
      }
    }
    await next();
  };
}

/** Starts s3rver on a free loopback port with the given buckets. */
export async function startLocalS3(buckets: readonly string[]): Promise<LocalS3> {
  const S3rver = load('s3rver') as S3rverConstructor;
  const directory = mkdtempSync(join(tmpdir(), 's3rver-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory, resetOnClose: true });
  server.middleware.unshift(etagConditions(server.store));
  deleteWithoutFolderCleanup(server.store);
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    credentials,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: new NodeHttpHandler({ httpAgent: { keepAlive: true, maxSockets: 64 } }),
  });
  for (const bucket of buckets) await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    endpoint,
    client,
    async keys(bucket, prefix) {
      const found: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        found.push(...(page.Contents ?? []).map((o) => o.Key!));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return found;
    },
    async close() {
      client.destroy();
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** A running dynalite that creates predictions tables shaped like the stage's (GSI `modelVersionIndex`). */
export interface LocalDynamo {
  readonly endpoint: string;
  readonly client: DynamoDBDocumentClient;
  createPredictionsTable(tableName: string): Promise<void>;
  scanAll(tableName: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

/** Starts dynalite on a free loopback port. */
export async function startLocalDynamo(): Promise<LocalDynamo> {
  const dynalite = load('dynalite') as Dynalite;
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const raw = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    requestHandler: new NodeHttpHandler({ httpAgent: { keepAlive: true, maxSockets: 64 } }),
  });
  const createPredictionsTable = async (tableName: string): Promise<void> => {
    await raw.send(new CreateTableCommand(predictionsTableInput(tableName)));
  };
  const client = DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } });
  return {
    endpoint,
    client,
    createPredictionsTable,
    async scanAll(table) {
      const items: Record<string, unknown>[] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const page = await client.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start }));
        items.push(...(page.Items ?? []));
        start = page.LastEvaluatedKey;
      } while (start);
      return items;
    },
    async close() {
      raw.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
