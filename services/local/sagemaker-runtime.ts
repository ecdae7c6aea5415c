import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for the SageMaker runtime `InvokeEndpoint` HTTP API in front of
 * one or more model servers (the inference-container contract). It lets the
 * predict and stream functions, `npm start` and the tests run unchanged against
 * real model servers: point the SDK at it with `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`.
 *
 * Like SageMaker it routes by variant weight (or `X-Amzn-SageMaker-Target-Variant`),
 * answers `X-Amzn-Invoked-Production-Variant`, and wraps a container's non-2xx
 * answer into a 424 `ModelError` carrying `OriginalStatusCode` and `OriginalMessage`.
 */

/** A production variant served by a model server at `url` (e.g. `http://127.0.0.1:8080`). */
export interface StandInVariant {
  readonly name: string;
  readonly weight: number;
  readonly url: string;
}

/** What a fault hook makes the container appear to answer instead of forwarding. */
export interface InjectedFault {
  readonly statusCode: number;
  readonly message: string;
}

/** One invocation as the stand-in saw it. */
export interface StandInInvocation {
  readonly endpointName: string;
  readonly variant: string;
  readonly body: string;
}

/** Options of {@link createSageMakerRuntimeStandIn}. */
export interface SageMakerRuntimeStandInOptions {
  readonly variants: readonly StandInVariant[];
  /** When set, other endpoint names answer `ValidationError` like a missing endpoint. */
  readonly endpointName?: string;
  /** Fault injection for tests: return a fault to answer it as the container's reply. @default none */
  readonly fault?: (invocation: StandInInvocation) => InjectedFault | undefined;
  /** @default Math.random */
  readonly random?: () => number;
}

/** A running (or ready to run) stand-in. */
export interface SageMakerRuntimeStandIn {
  readonly server: Server;
  /** Invocations received so far, in order (forwarded or faulted). */
  readonly invocations: readonly StandInInvocation[];
  /** Starts listening; resolves to the base URL for `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`. */
  listen(port?: number, host?: string): Promise<string>;
  close(): Promise<void>;
}

const invocationsPath = /^\/endpoints\/([^/]+)\/invocations$/;

/** Builds the stand-in; call `listen()` to start it. */
export function createSageMakerRuntimeStandIn(
  options: SageMakerRuntimeStandInOptions,
): SageMakerRuntimeStandIn {
  if (options.variants.length === 0 || options.variants.some((v) => !(v.weight >= 0))) {
    throw new Error('createSageMakerRuntimeStandIn needs at least one variant with a non-negative weight');
  }
  const invocations: StandInInvocation[] = [];
  const random = options.random ?? Math.random;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const match = invocationsPath.exec(new URL(req.url ?? '/', 'http://stand-in').pathname);
    if (req.method !== 'POST' || !match)
      return sendError(res, 404, 'UnknownOperationException', 'Unknown operation');
    const endpointName = decodeURIComponent(match[1]!);
    if (options.endpointName !== undefined && endpointName !== options.endpointName) {
      return sendError(res, 400, 'ValidationError', `Endpoint ${endpointName} not found.`);
    }
    const target = headerValue(req, 'x-amzn-sagemaker-target-variant');
    const variant = target
      ? options.variants.find((v) => v.name === target)
      : pickByWeight(options.variants, random);
    if (!variant) return sendError(res, 400, 'ValidationError', `Variant ${target} not found.`);
    const body = await readBody(req);
    const invocation = { endpointName, variant: variant.name, body: body.toString('utf8') };
    invocations.push(invocation);

    const fault = options.fault?.(invocation);
    const reply = fault
      ? { status: fault.statusCode, contentType: 'application/json', body: Buffer.from(fault.message) }
      : await forward(variant.url, req, body);
    if (!reply) return sendError(res, 503, 'ServiceUnavailable', 'The model container is not reachable.');
    if (reply.status < 200 || reply.status >= 300)
      return sendModelError(res, reply.status, reply.body, variant.name);
    res.writeHead(200, {
      'Content-Type': reply.contentType,
      'x-Amzn-Invoked-Production-Variant': variant.name,
      'x-amzn-RequestId': randomUUID(),
    });
    res.end(reply.body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) sendError(res, 500, 'InternalFailure', 'Stand-in failure');
      else res.destroy();
    });
  });
  // Node closes idle keep-alive sockets after 5 s; a client reusing one as it closes gets ECONNRESET,
  // which the SDK (one attempt locally) reports as an unavailable endpoint. Keep them open longer than
  // any client's idle time, as SageMaker's front end does.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  return {
    server,
    invocations,
    listen: (port = 0, host = '127.0.0.1') =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          const address = server.address() as AddressInfo;
          resolve(`http://${host}:${address.port}`);
        });
      }),
    close: () =>
      new Promise((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** Weighted choice, as SageMaker splits traffic between production variants. */
export function pickByWeight(variants: readonly StandInVariant[], random: () => number): StandInVariant {
  const total = variants.reduce((sum, v) => sum + v.weight, 0);
  let threshold = random() * total;
  for (const variant of variants) {
    threshold -= variant.weight;
    if (threshold < 0) return variant;
  }
  return variants[variants.length - 1]!;
}

async function forward(
  baseUrl: string,
  req: IncomingMessage,
  body: Buffer,
): Promise<{ status: number; contentType: string; body: Buffer } | undefined> {
  try {
    const response = await fetch(new URL('/invocations', baseUrl), {
      method: 'POST',
      headers: {
        'Content-Type': headerValue(req, 'content-type') ?? 'application/json',
        Accept: headerValue(req, 'accept') ?? 'application/json',
      },
      body,
    });
    return {
      status: response.status,
      contentType: response.headers.get('content-type') ?? 'application/json',
      body: Buffer.from(await response.arrayBuffer()),
    };
  } catch {
    return undefined;
  }
}

function sendModelError(
  res: ServerResponse,
  originalStatus: number,
  originalBody: Buffer,
  variant: string,
): void {
  const side = originalStatus < 500 ? 'client' : 'server';
  const originalMessage = originalBody.toString('utf8');
  res.writeHead(424, { 'Content-Type': 'application/json', 'x-amzn-ErrorType': 'ModelError' });
  res.end(
    JSON.stringify({
      message: `Received ${side} error (${originalStatus}) from primary with message "${originalMessage}".`,
      OriginalStatusCode: originalStatus,
      OriginalMessage: originalMessage,
      LogStreamArn: `arn:aws:logs:local:000000000000:log-group:/aws/sagemaker/Endpoints/local:log-stream:${variant}`,
    }),
  );
}

function sendError(res: ServerResponse, status: number, type: string, message: string): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'x-amzn-ErrorType': type });
  res.end(JSON.stringify({ message }));
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
