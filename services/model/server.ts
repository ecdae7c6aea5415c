import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { Logger, silentLogger } from './logger';
import { LoadedModel, loadModel } from './model';
import { ModelMetadata } from './metadata';
import { assertJsonContentType, invalidInput, parseInvocationRows, RequestError } from './validation';

/** Settings of one model server. */
export interface ModelServerOptions {
  /** Folder with `model.onnx` and `metadata.json` (SageMaker extracts `model.tar.gz` into `/opt/ml/model`). */
  readonly modelDir: string;
  /** Port to listen on; 0 picks a free one. @default 8080 */
  readonly port?: number;
  /** Address to bind. @default all interfaces */
  readonly host?: string;
  /** Most rows per invocation. @default 1000 */
  readonly maxRows?: number;
  /** Largest request body in bytes. @default 6 MiB, SageMaker's real-time payload limit */
  readonly maxBodyBytes?: number;
  /** @default silentLogger */
  readonly logger?: Logger;
  /** Loads the model; tests wrap it to observe the server while loading. @default loadModel */
  readonly loadModel?: (modelDir: string) => Promise<LoadedModel>;
}

/** A model server that answers the SageMaker inference-container contract. */
export interface ModelServer {
  /** Listens, then loads the model in the background (`/ping` is 503 until done). Resolves with the bound port. */
  start(): Promise<number>;
  /** Resolves with the model's metadata once loaded; rejects with the load error. */
  loaded(): Promise<ModelMetadata>;
  /** Stops accepting connections, closes idle ones and releases the model. */
  stop(): Promise<void>;
}

const DEFAULT_PORT = 8080;
const DEFAULT_MAX_ROWS = 1000;
const DEFAULT_MAX_BODY_BYTES = 6 * 1024 * 1024;
/** Longer than the keep-alive of the SageMaker front end, so it never reuses a socket the server just closed. */
const KEEP_ALIVE_MS = 65_000;

function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  const tooLarge = () => invalidInput(`Request body exceeds ${maxBytes} bytes`);
  if (Number(req.headers['content-length'] ?? 0) > maxBytes) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.removeAllListeners('data');
        req.resume();
        reject(tooLarge());
      } else {
        chunks.push(chunk);
      }
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function methodNotAllowed(allowed: string): RequestError {
  return new RequestError(405, 'MethodNotAllowed', `Use ${allowed} for this path`);
}

/** Creates (but does not start) a model server for the model in `options.modelDir`. */
export function createModelServer(options: ModelServerOptions): ModelServer {
  const log = options.logger ?? silentLogger;
  const maxRows = options.maxRows ?? DEFAULT_MAX_ROWS;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  let model: LoadedModel | undefined;
  let loading: Promise<LoadedModel> | undefined;
  let stopping = false;

  const sendJson = (
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) => {
    const payload = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(payload),
      ...(stopping ? { Connection: 'close' } : {}),
      ...headers,
    });
    res.end(payload);
  };

  const ping = (res: ServerResponse) =>
    model
      ? sendJson(res, 200, { status: 'ok', modelVersion: model.metadata.version })
      : sendJson(res, 503, { status: 'loading' });

  const invoke = async (req: IncomingMessage, res: ServerResponse) => {
    if (!model) throw new RequestError(503, 'ModelNotReady', 'The model is still loading; retry shortly');
    const { metadata, predict } = model;
    assertJsonContentType(req.headers['content-type']);
    const rows = parseInvocationRows(await readBody(req, maxBodyBytes), {
      featureCount: metadata.featureCount,
      maxRows,
    });
    const predictions = await predict(rows);
    const labels = metadata.task === 'classification' ? { labels: metadata.labels } : {};
    sendJson(res, 200, { modelVersion: metadata.version, ...labels, predictions });
  };

  const route = async (req: IncomingMessage, res: ServerResponse) => {
    const pathname = (req.url ?? '/').split('?')[0];
    if (pathname === '/ping') {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed('GET');
      return ping(res);
    }
    if (pathname === '/invocations') {
      if (req.method !== 'POST') throw methodNotAllowed('POST');
      return invoke(req, res);
    }
    throw new RequestError(404, 'NotFound', `No route for ${req.method} ${pathname}`);
  };

  const server = createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
      if (res.headersSent) return;
      if (error instanceof RequestError) {
        const headers: Record<string, string> = req.complete ? {} : { Connection: 'close' };
        if (error.status === 405) headers.Allow = req.url?.startsWith('/ping') ? 'GET, HEAD' : 'POST';
        return sendJson(res, error.status, { error: { code: error.code, message: error.message } }, headers);
      }
      log('error', 'invocation failed', { error: error instanceof Error ? error.stack : String(error) });
      sendJson(res, 500, {
        error: { code: 'InternalError', message: 'The model failed to score the request' },
      });
    });
  });
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  server.headersTimeout = KEEP_ALIVE_MS + 1000;

  const load = async (): Promise<LoadedModel> => {
    const started = performance.now();
    const loaded = await (options.loadModel ?? loadModel)(options.modelDir);
    model = loaded;
    log('info', 'model loaded', {
      modelVersion: loaded.metadata.version,
      input: loaded.inputName,
      output: loaded.outputName,
      loadMs: Math.round(performance.now() - started),
    });
    return loaded;
  };

  return {
    start: () =>
      new Promise<number>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port ?? DEFAULT_PORT, options.host, () => {
          server.off('error', reject);
          const { port } = server.address() as AddressInfo;
          log('info', 'listening', { port, modelDir: options.modelDir });
          loading = load();
          loading.catch(() => undefined);
          resolve(port);
        });
      }),
    loaded: async () => {
      if (!loading) throw new Error('Model server is not started');
      return (await loading).metadata;
    },
    stop: async () => {
      stopping = true;
      if (server.listening) {
        await new Promise<void>((resolve, reject) => {
          server.close((error) => (error ? reject(error) : resolve()));
          server.closeIdleConnections();
        });
      }
      await loading?.then((loaded) => loaded.release()).catch(() => undefined);
      model = undefined;
    },
  };
}
