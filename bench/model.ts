/**
 * Model-server throughput and latency at a fixed concurrency, next to the raw `session.run` time of the same
 * model in the same run.
 *
 *   npm run bench:model [-- --version v1.1.0 --duration 5 --connections 8 --rows 1 --container]
 *
 * With `--container`, the same load also runs against the model server image (`npm run images`
 * builds it), so the two throughputs compare within one run.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import {
  extractModelArchive,
  loadModelMetadata,
  modelArchivePath,
  listModelVersions,
  ModelVersion,
  unknownVersionProblem,
} from '../services/model/artifacts';
import { parseCli } from '../scripts/cli';
import { docker, findRunningEngine } from '../scripts/container-engine';
import { imageTag } from '../scripts/images';

/** What to measure. */
export interface ModelBenchOptions {
  /** A folder under `models/`. @default the oldest there */
  readonly version?: ModelVersion;
  /** Load duration against the server. @default 5 */
  readonly durationSeconds?: number;
  /** Concurrent keep-alive connections. @default 8 */
  readonly connections?: number;
  /** Rows per invocation. @default 1 */
  readonly rowsPerRequest?: number;
  /** Timed `session.run` calls. @default 5000 */
  readonly rawIterations?: number;
  /** Also load the model server image in a container (needs a running engine and the built image). @default false */
  readonly container?: boolean;
}

/** Throughput and latency of one load run. */
export interface LoadSummary {
  readonly requestsPerSecond: number;
  readonly totalRequests: number;
  /** Connection errors, timeouts and non-2xx answers. */
  readonly failures: number;
  /** Milliseconds, from every 2xx response time (autocannon's own histogram has 1 ms resolution). */
  readonly latencyMs: LatencySummary;
}

/** Percentiles of a latency sample. */
export interface LatencySummary {
  readonly p50: number;
  readonly p99: number;
  readonly mean: number;
}

/** One run's numbers. */
export interface ModelBenchResult {
  readonly version: ModelVersion;
  readonly connections: number;
  readonly durationSeconds: number;
  readonly rowsPerRequest: number;
  readonly server: LoadSummary;
  /** The same load against the image in a container, when asked for. */
  readonly container?: LoadSummary & { readonly startToPingMs: number };
  readonly raw: {
    readonly iterations: number;
    /** Microseconds per `session.run` of `rowsPerRequest` rows. */
    readonly runMicros: LatencySummary;
  };
}

const WARMUP_RUNS = 200;
const SERVER_START_TIMEOUT_MS = 15_000;

/** p50, p99 and mean of a sample (nearest-rank percentiles). */
export function summarize(sample: readonly number[]): LatencySummary {
  const sorted = [...sample].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
  return { p50: rank(50), p99: rank(99), mean: sorted.reduce((a, b) => a + b, 0) / sorted.length };
}

async function timeSessionRun(
  modelDir: string,
  rows: number[][],
  iterations: number,
): Promise<LatencySummary> {
  const session = await InferenceSession.create(path.join(modelDir, 'model.onnx'));
  try {
    const feeds = {
      [session.inputNames[0]]: new Tensor('float32', Float32Array.from(rows.flat()), [
        rows.length,
        rows[0].length,
      ]),
    };
    for (let i = 0; i < WARMUP_RUNS; i++) await session.run(feeds);
    const micros: number[] = [];
    for (let i = 0; i < iterations; i++) {
      const started = process.hrtime.bigint();
      await session.run(feeds);
      micros.push(Number(process.hrtime.bigint() - started) / 1000);
    }
    return summarize(micros);
  } finally {
    await session.release();
  }
}

/** Starts services/model/main.ts as the container would, on a free port; resolves once the model is loaded. */
function startServerProcess(modelDir: string): Promise<{ child: ChildProcess; port: number }> {
  const repoRoot = path.resolve(__dirname, '..');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join('services', 'model', 'main.ts'), 'serve'],
    {
      cwd: repoRoot,
      env: { ...process.env, PORT: '0', MODEL_DIR: modelDir },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    let port = 0;
    const timer = setTimeout(
      () => reject(new Error('model server did not load in time')),
      SERVER_START_TIMEOUT_MS,
    );
    child.once('exit', (code) => reject(new Error(`model server exited with code ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const entry = JSON.parse(line) as { message?: string; port?: number; error?: string };
      if (entry.message === 'listening') port = entry.port ?? 0;
      if (entry.message === 'model loaded') {
        clearTimeout(timer);
        resolve({ child, port });
      }
    });
  });
}

function stopServerProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** autocannon against `/invocations` on a loopback port. */
async function load(port: number, body: string, connections: number, duration: number): Promise<LoadSummary> {
  const latenciesMs: number[] = [];
  const instance = autocannon({
    url: `http://127.0.0.1:${port}/invocations`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections,
    duration,
  });
  instance.on('response', (_client, status, _bytes, ms) => status < 300 && latenciesMs.push(ms));
  const result = await instance;
  return {
    requestsPerSecond: result.requests.average,
    totalRequests: result.requests.total,
    failures: result.errors + result.timeouts + result.non2xx,
    latencyMs: summarize(latenciesMs),
  };
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

/**
 * The model server image as SageMaker runs it (`serve`, the model read-only at /opt/ml/model; host
 * network, so on a free port), loaded like the process above; the container is removed afterwards.
 */
async function loadContainer(
  modelDir: string,
  body: string,
  connections: number,
  duration: number,
): Promise<LoadSummary & { startToPingMs: number }> {
  const engine = findRunningEngine();
  if (!engine) throw new Error('--container needs a running container engine: run `npm run images` first');
  const image = imageTag('model');
  docker(engine, ['image', 'inspect', image]);
  await chmod(modelDir, 0o755);
  for (const file of await readdir(modelDir)) await chmod(path.join(modelDir, file), 0o644);
  const port = await freePort();
  const started = performance.now();
  const id = docker(engine, [
    'run',
    '--detach',
    '--network',
    'host',
    '--env',
    `PORT=${port}`,
    '--volume',
    `${modelDir}:/opt/ml/model:ro`,
    image,
    'serve',
  ]).trim();
  try {
    const deadline = Date.now() + SERVER_START_TIMEOUT_MS;
    for (;;) {
      const status = await fetch(`http://127.0.0.1:${port}/ping`).then(
        (res) => res.status,
        () => 0,
      );
      if (status === 200) break;
      if (Date.now() > deadline)
        throw new Error(`container did not answer /ping: ${docker(engine, ['logs', id])}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const startToPingMs = performance.now() - started;
    return { ...(await load(port, body, connections, duration)), startToPingMs };
  } finally {
    docker(engine, ['rm', '--force', id]);
  }
}

/**
 * Measures the model server (a child process running the container entry point, loaded from the version's
 * `model.tar.gz`) with autocannon on 127.0.0.1, then `session.run` of the same model in this process.
 */
export async function benchModelServer(options: ModelBenchOptions = {}): Promise<ModelBenchResult> {
  const version = options.version ?? listModelVersions()[0];
  const durationSeconds = options.durationSeconds ?? 5;
  const connections = options.connections ?? 8;
  const rowsPerRequest = options.rowsPerRequest ?? 1;
  const iterations = options.rawIterations ?? 5000;
  const golden = loadModelMetadata(version).golden;
  const rows = Array.from({ length: rowsPerRequest }, (_, i) => [...golden[i % golden.length].features]);

  const modelDir = await mkdtemp(path.join(tmpdir(), `bench-model-${version}-`));
  try {
    await extractModelArchive(modelArchivePath(version), modelDir);
    const body = JSON.stringify(rows.length === 1 ? rows[0] : rows);
    const { child, port } = await startServerProcess(modelDir);
    let server: LoadSummary;
    try {
      server = await load(port, body, connections, durationSeconds);
    } finally {
      await stopServerProcess(child);
    }
    const container = options.container
      ? await loadContainer(modelDir, body, connections, durationSeconds)
      : undefined;
    const runMicros = await timeSessionRun(modelDir, rows, iterations);
    return {
      version,
      connections,
      durationSeconds,
      rowsPerRequest,
      server,
      container,
      raw: { iterations, runMicros },
    };
  } finally {
    await rm(modelDir, { recursive: true, force: true });
  }
}

/** The result as a small aligned table. */
export function formatModelBench(result: ModelBenchResult): string {
  const { server, container, raw } = result;
  const loadRows = (name: string, summary: LoadSummary): [string, string][] => [
    [
      `${name} throughput`,
      `${summary.requestsPerSecond.toFixed(0)} req/s (${summary.totalRequests} requests)`,
    ],
    [`${name} latency p50`, `${summary.latencyMs.p50.toFixed(2)} ms`],
    [`${name} latency p99`, `${summary.latencyMs.p99.toFixed(2)} ms`],
    [`${name} failures`, String(summary.failures)],
  ];
  const rows: [string, string][] = [
    ...loadRows('server', server),
    ...(container
      ? [
          ...loadRows('container', container),
          ['container start to /ping', `${container.startToPingMs.toFixed(0)} ms`] as [string, string],
          [
            'container / process',
            `${(container.requestsPerSecond / server.requestsPerSecond).toFixed(2)}× the throughput`,
          ] as [string, string],
        ]
      : []),
    ['raw session.run p50', `${raw.runMicros.p50.toFixed(1)} µs`],
    ['raw session.run p99', `${raw.runMicros.p99.toFixed(1)} µs`],
    ['raw session.run mean', `${raw.runMicros.mean.toFixed(1)} µs (${raw.iterations} runs)`],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  const title =
    `model server ${result.version}: ${result.connections} connections, ${result.durationSeconds} s, ` +
    `${result.rowsPerRequest} row(s) per request`;
  return [title, ...rows.map(([name, value]) => `  ${name.padEnd(width)}  ${value}`)].join('\n');
}

const USAGE = `Usage: npm run bench:model [-- --version v1.0.0] [-- --duration 5] [-- --connections 8]
                           [-- --rows 1] [-- --container]

Model-server throughput and p99 (the container entry point in a child process, on 127.0.0.1) next to
the raw ONNX session.run time of the same model, in one run.
  --version V       model version, a folder under models/ (default the oldest there)
  --duration S      seconds of load (default 5)
  --connections N   concurrent keep-alive connections (default 8)
  --rows N          rows per invocation (default 1)
  --container       also load the model server image in a container (\`npm run images\` first) and
                    print its throughput next to the process's
  --help            this text`;

function positiveInteger(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    process.stderr.write(`--${flag} must be a positive integer, not "${raw}"\n`);
    process.exit(2);
  }
  return value;
}

function parseArgs(args: readonly string[]): ModelBenchOptions {
  const flags = parseCli(args, {
    usage: USAGE,
    flags: {
      version: 'string',
      duration: 'string',
      connections: 'string',
      rows: 'string',
      container: 'boolean',
    },
  });
  const problem = flags.version === undefined ? undefined : unknownVersionProblem(flags.version);
  if (problem) {
    process.stderr.write(`--version: ${problem}\n`);
    process.exit(2);
  }
  return {
    version: flags.version,
    durationSeconds: positiveInteger('duration', flags.duration),
    connections: positiveInteger('connections', flags.connections),
    rowsPerRequest: positiveInteger('rows', flags.rows),
    container: flags.container === true,
  };
}

if (require.main === module) {
  const options = parseArgs(process.argv.slice(2));
  benchModelServer(options).then(
    (result) => console.log(formatModelBench(result)),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exitCode = 1;
    },
  );
}
