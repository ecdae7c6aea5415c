import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { ApiHandler } from '../inference/http';
import { checkCaller, type LocalCaller } from './callers';

/** The API's routes, as API Gateway declares them. */
export interface ApiRoutes {
  /** `POST /predict` */
  readonly predict: ApiHandler;
  /** `GET /predictions/{id}` */
  readonly getPrediction: ApiHandler;
  /** `POST /predictions/{id}/feedback` @default - not served (404) */
  readonly feedback?: ApiHandler;
}

/** A plain HTTP request, before it becomes a proxy event. */
export interface RawRequest {
  readonly method: string;
  /** Path and query, e.g. `/predictions/abc?x=1`. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly body: string;
}

/** Which route a request matches, with its proxy event; undefined for no route. */
export interface RoutedRequest {
  readonly route: keyof ApiRoutes;
  readonly event: APIGatewayProxyEvent;
}

/** API Gateway's payload limit; the predict handler applies its own, smaller one. */
export const MAX_BODY_BYTES = 10 * 1024 * 1024;

const predictionPath = /^\/predictions\/([^/]+)$/;
const feedbackPath = /^\/predictions\/([^/]+)\/feedback$/;

/**
 * Maps a request to the route and REST proxy event API Gateway would hand the
 * function (resource, path parameters, single- and multi-value headers and query).
 */
export function toProxyEvent(
  request: RawRequest,
  now = Date.now(),
  caller?: LocalCaller,
): RoutedRequest | undefined {
  const url = new URL(request.url, 'http://local');
  const method = request.method.toUpperCase();
  let route: keyof ApiRoutes;
  let resource: string;
  let pathParameters: Record<string, string> | null = null;
  const match = predictionPath.exec(url.pathname);
  const feedbackMatch = feedbackPath.exec(url.pathname);
  if (method === 'POST' && feedbackMatch) {
    route = 'feedback';
    resource = '/predictions/{id}/feedback';
    pathParameters = { id: decodeURIComponent(feedbackMatch[1]!) };
  } else if (method === 'POST' && url.pathname === '/predict') {
    route = 'predict';
    resource = '/predict';
  } else if (method === 'GET' && match) {
    route = 'getPrediction';
    resource = '/predictions/{id}';
    pathParameters = { id: decodeURIComponent(match[1]!) };
  } else {
    return undefined;
  }
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue;
    const values = typeof value === 'string' ? [value] : [...value];
    headers[name] = values.join(',');
    multiValueHeaders[name] = values;
  }
  const query = [...url.searchParams.keys()];
  const event: APIGatewayProxyEvent = {
    resource,
    path: url.pathname,
    httpMethod: method,
    headers,
    multiValueHeaders,
    queryStringParameters: query.length ? Object.fromEntries(url.searchParams) : null,
    multiValueQueryStringParameters: query.length
      ? Object.fromEntries(query.map((key) => [key, url.searchParams.getAll(key)]))
      : null,
    pathParameters,
    stageVariables: null,
    body: request.body === '' ? null : request.body,
    isBase64Encoded: false,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      httpMethod: method,
      path: url.pathname,
      protocol: 'HTTP/1.1',
      requestId: `local-${now}-${Math.random().toString(16).slice(2, 10)}`,
      requestTimeEpoch: now,
      resourceId: 'local',
      resourcePath: resource,
      stage: 'local',
      identity: (caller
        ? { userArn: caller.arn, accessKey: caller.accessKeyId, caller: caller.arn }
        : { userArn: localPrincipal(request.headers) }) as APIGatewayProxyEvent['requestContext']['identity'],
      authorizer: null,
    },
  };
  return { route, event };
}

/** Principal of local requests without {@link LOCAL_PRINCIPAL_HEADER}. */
export const DEFAULT_LOCAL_PRINCIPAL = 'arn:aws:iam::000000000000:user/local';

/**
 * Local stand-in for SigV4 authentication: the principal a local request acts as (the handlers
 * scope requestIds and reads by it). API Gateway takes it from the signature and never from a header.
 */
export const LOCAL_PRINCIPAL_HEADER = 'x-local-principal';

function localPrincipal(headers: RawRequest['headers']): string {
  const value = headers[LOCAL_PRINCIPAL_HEADER];
  const principal = typeof value === 'string' ? value : value?.[0];
  return principal === undefined || principal === '' ? DEFAULT_LOCAL_PRINCIPAL : principal;
}

/** The answer API Gateway gives for a path or method no route declares (JSON, like the handlers). */
export function notFoundResult(method: string, path: string): APIGatewayProxyResult {
  return errorResult(
    404,
    'NotFound',
    `No route for ${method} ${path}; use POST /predict or GET /predictions/{id}.`,
  );
}

/**
 * A local HTTP server standing in for API Gateway's proxy integration in front of the real handlers.
 * A SigV4-signed request is verified against `callers` (403 for an unknown key or a bad signature, as
 * IAM authorization answers) and reaches the handler with that caller's identity; unsigned requests
 * stay anonymous.
 */
export function createApiAdapter(routes: ApiRoutes, callers: readonly LocalCaller[] = []): Server {
  const server = createServer((req, res) => {
    const send = (result: APIGatewayProxyResult) => {
      const body = result.isBase64Encoded ? Buffer.from(result.body, 'base64') : Buffer.from(result.body);
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
      for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) {
        headers[name] = values.map(String);
      }
      res.writeHead(result.statusCode, headers);
      res.end(body);
    };
    readBody(req)
      .then(async (body) => {
        if (body === undefined) return send(errorResult(413, 'PayloadTooLarge', 'Request body too large.'));
        const raw = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body };
        const identity = await checkCaller(raw, callers);
        if (identity.kind === 'refused') return send(errorResult(403, 'Forbidden', identity.message));
        const routed = toProxyEvent(
          raw,
          Date.now(),
          identity.kind === 'caller' ? identity.caller : undefined,
        );
        if (!routed)
          return send(notFoundResult(req.method ?? 'GET', new URL(req.url ?? '/', 'http://local').pathname));
        const handler = routes[routed.route];
        if (!handler)
          return send(notFoundResult(req.method ?? 'GET', new URL(req.url ?? '/', 'http://local').pathname));
        return send(await handler(routed.event));
      })
      .catch(() => {
        if (!res.headersSent) send(errorResult(500, 'InternalError', 'The request could not be processed.'));
        else res.destroy();
      });
  });
  // Longer than clients' idle keep-alive, so none reuses a socket the server is closing (ECONNRESET).
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  return server;
}

function errorResult(statusCode: number, code: string, message: string): APIGatewayProxyResult {
  return {
    statusCode,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ error: { code, message } }),
  };
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
