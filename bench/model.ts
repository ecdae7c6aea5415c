/**
 * Model-server throughput and latency at a fixed concurrency, next to the raw `session.run` time of the same
 * model in the same run.
 *
 *   npm run bench:model [-- --version v1.1.0 --duration 5 --connections 8 --rows 1]
 */
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import {
  extractModelArchive,
  loadModelMetadata,
  modelArchivePath,
  ModelVersion,
  modelVersions,
} from '../services/model/artifacts';

/** What to measure. */
export interface ModelBenchOptions {
  /** @default 'v1.0.0' */
  readonly version?: ModelVersion;
  /** Load duration against the server. @default 5 */
  readonly durationSeconds?: number;
  /** Concurrent keep-alive connections. @default 8 */
  readonly connections?: number;
  /** Rows per invocation. @default 1 */
  readonly rowsPerRequest?: number;
  /** Timed `session.run` calls. @default 5000 */
  readonly rawIterations?: number;
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
  readonly server: {
    readonly requestsPerSecond: number;
    readonly totalRequests: number;
    /** Connection errors, timeouts and non-2xx answers. */
    readonly failures: number;
    /** Milliseconds, from every 2xx response time (autocannon's own histogram has 1 ms resolution). */
    readonly latencyMs: LatencySummary;
  };
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

/**
 * Measures the model server (a child process running the container entry point, loaded from the version's
 * `model.tar.gz`) with autocannon on 127.0.0.1, then `session.run` of the same model in this process.
 */
export async function benchModelServer(options: ModelBenchOptions = {}): Promise<ModelBenchResult> {
  const version = options.version ?? 'v1.0.0';
  const durationSeconds = options.durationSeconds ?? 5;
  const connections = options.connections ?? 8;
  const rowsPerRequest = options.rowsPerRequest ?? 1;
  const iterations = options.rawIterations ?? 5000;
  const golden = loadModelMetadata(version).golden;
  const rows = Array.from({ length: rowsPerRequest }, (_, i) => [...golden[i % golden.length].features]);

  const modelDir = await mkdtemp(path.join(tmpdir(), `bench-model-${version}-`));
  try {
    await extractModelArchive(modelArchivePath(version), modelDir);
    const { child, port } = await startServerProcess(modelDir);
    let load: autocannon.Result;
    const latenciesMs: number[] = [];
    try {
      const instance = autocannon({
        url: `http://127.0.0.1:${port}/invocations`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(rows.length === 1 ? rows[0] : rows),
        connections,
        duration: durationSeconds,
      });
      instance.on('response', (_client, status, _bytes, ms) => status < 300 && latenciesMs.push(ms));
      load = await instance;
    } finally {
      await stopServerProcess(child);
    }
    const runMicros = await timeSessionRun(modelDir, rows, iterations);
    return {
      version,
      connections,
      durationSeconds,
      rowsPerRequest,
      server: {
        requestsPerSecond: load.requests.average,
        totalRequests: load.requests.total,
        failures: load.errors + load.timeouts + load.non2xx,
        latencyMs: summarize(latenciesMs),
      },
      raw: { iterations, runMicros },
    };
  } finally {
    await rm(modelDir, { recursive: true, force: true });
  }
}

/** The result as a small aligned table. */
export function formatModelBench(result: ModelBenchResult): string {
  const { server, raw } = result;
  const rows: [string, string][] = [
    ['server throughput', `${server.requestsPerSecond.toFixed(0)} req/s (${server.totalRequests} requests)`],
    ['server latency p50', `${server.latencyMs.p50.toFixed(2)} ms`],
    ['server latency p99', `${server.latencyMs.p99.toFixed(2)} ms`],
    ['server failures', String(server.failures)],
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

function parseArgs(args: readonly string[]): ModelBenchOptions {
  const value = (flag: string) => {
    const i = args.indexOf(flag);
    return i === -1 ? undefined : args[i + 1];
  };
  const number = (flag: string) => (value(flag) === undefined ? undefined : Number(value(flag)));
  const version = value('--version');
  if (version !== undefined && !modelVersions.includes(version as ModelVersion)) {
    throw new Error(`--version must be one of ${modelVersions.join(', ')}`);
  }
  return {
    version: version as ModelVersion | undefined,
    durationSeconds: number('--duration'),
    connections: number('--connections'),
    rowsPerRequest: number('--rows'),
  };
}

if (require.main === module) {
  Promise.resolve()
    .then(() => benchModelServer(parseArgs(process.argv.slice(2))))
    .then(
      (result) => console.log(formatModelBench(result)),
      (error: unknown) => {
        console.error(error);
        process.exitCode = 1;
      },
    );
}
