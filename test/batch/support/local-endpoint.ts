import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/** Labels of the stand-in model, as in models/v1.0.0/metadata.json. */
export const STAND_IN_LABELS = ['setosa', 'versicolor', 'virginica'];
const FEATURE_COUNT = 4;

/**
 * Stand-in for SageMaker runtime in front of the model server until `services/model` and
 * `services/local/sagemaker-runtime.ts` land: `POST /endpoints/<name>/invocations` answers with the
 * model server's body (CONTRACTS.md) from a deterministic softmax over the first three features, and
 * a container 4xx becomes SageMaker's 424 `ModelError` with `OriginalStatusCode`.
 */
export interface LocalEndpoint {
  readonly url: string;
  readonly client: SageMakerRuntimeClient;
  /** Invocations answered so far. */
  readonly invocations: () => number;
  close(): Promise<void>;
}

/** Options of {@link startLocalEndpoint}. */
export interface LocalEndpointOptions {
  readonly modelVersion?: string;
  readonly variant?: string;
}

/** The stand-in model: softmax over the first three features. */
export function standInPredict(row: readonly number[]): { label: string; probabilities: number[] } {
  const exps = row.slice(0, 3).map((x) => Math.exp(x));
  const sum = exps.reduce((a, b) => a + b, 0);
  const probabilities = exps.map((e) => Number((e / sum).toFixed(6)));
  const best = probabilities.indexOf(Math.max(...probabilities));
  return { label: STAND_IN_LABELS[best], probabilities };
}

const send = (
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};

const modelError = (res: ServerResponse, message: string): void =>
  send(
    res,
    424,
    {
      message: `Received client error (400) from primary: ${message}`,
      OriginalStatusCode: 400,
      OriginalMessage: message,
    },
    { 'x-amzn-errortype': 'ModelError' },
  );

/** Starts the stand-in on a free loopback port. */
export async function startLocalEndpoint(options: LocalEndpointOptions = {}): Promise<LocalEndpoint> {
  let invocations = 0;
  const handle = (req: IncomingMessage, res: ServerResponse, raw: string): void => {
    if (req.method !== 'POST' || !/^\/endpoints\/[^/]+\/invocations$/.test(req.url ?? '')) {
      send(res, 404, { message: 'unknown operation' }, { 'x-amzn-errortype': 'ValidationError' });
      return;
    }
    invocations++;
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      modelError(res, 'body is not JSON');
      return;
    }
    const rows = (body as { instances?: unknown }).instances;
    if (!Array.isArray(rows) || rows.length === 0) {
      modelError(res, 'expected a non-empty "instances" array');
      return;
    }
    for (const row of rows) {
      if (!Array.isArray(row) || row.length !== FEATURE_COUNT || !row.every((x) => typeof x === 'number')) {
        modelError(res, `each row must hold ${FEATURE_COUNT} numbers`);
        return;
      }
    }
    send(
      res,
      200,
      {
        modelVersion: options.modelVersion ?? 'v1.0.0',
        labels: STAND_IN_LABELS,
        predictions: (rows as number[][]).map(standInPredict),
      },
      { 'x-amzn-invoked-production-variant': options.variant ?? 'VariantA' },
    );
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new SageMakerRuntimeClient({
    endpoint: url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    requestHandler: new NodeHttpHandler({ httpAgent: { keepAlive: true } }),
  });
  return {
    url,
    client,
    invocations: () => invocations,
    async close() {
      client.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
