/**
 * Model-server throughput and latency at a fixed concurrency, next to the raw `session.run` time of the same
 * model in the same run.
 *
 *   npm run bench:model [-- --model DIR[,DIR...] --rows 1,100 --duration 5 --connections 8 --container]
 *
 * With `--container`, the same load also runs against the model server image (`npm run images`
 * builds it), so the two throughputs compare within one run. On a busy host with cgroup v1 the
 * container is slower for a reason outside the image: every container sits under the engine's
 * `/docker` cpu cgroup, whose cpu.shares (1024) weigh as much as one host task, so against a load
 * average of ~25 the container's threads together get one task's CPU while the process competes per
 * thread. Raising /sys/fs/cgroup/cpu/docker/cpu.shares to 262144 brought the same container from
 * 0.6 to 0.98-0.99 of the process's throughput (Iris, 8 connections); compare on an idle host.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { existsSync, readFileSync } from 'node:fs';
import { extractModelArchive, listModelVersions, modelArtifactDir } from '../services/model/artifacts';
import { parseModelMetadata } from '../services/model/metadata';
import { parseCli } from '../scripts/cli';
import { docker, findRunningEngine } from '../scripts/container-engine';
import { imageTag } from '../scripts/images';

/** What to measure. */
export interface ModelBenchOptions {
  /** A version folder (`model.tar.gz`, `metadata.json`), any task. @default the oldest folder of `models/` */
  readonly modelDir?: string;
  /** Load duration against the server. @default 5 */
  readonly durationSeconds?: number;
  /** Concurrent keep-alive connections. @default 8 */
  readonly connections?: number;
  /** Rows per invocation. @default 1 */
  readonly rowsPerRequest?: number;
  /** Most timed `session.run` calls (they also stop after `durationSeconds`). @default 5000 */
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
  readonly version: string;
  /** Size of `model.onnx` in bytes. */
  readonly modelBytes: number;
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
const MIN_TIMED_RUNS = 20;
const SERVER_START_TIMEOUT_MS = 15_000;

/** p50, p99 and mean of a sample (nearest-rank percentiles). */
export function summarize(sample: readonly number[]): LatencySummary {
  const sorted = [...sample].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
  return { p50: rank(50), p99: rank(99), mean: sorted.reduce((a, b) => a + b, 0) / sorted.length };
}

/** Times `session.run` up to `iterations` times or for `budgetSeconds`, whichever ends first (large models). */
async function timeSessionRun(
  modelDir: string,
  rows: number[][],
  iterations: number,
  budgetSeconds: number,
): Promise<{ iterations: number; runMicros: LatencySummary }> {
  const session = await InferenceSession.create(path.join(modelDir, 'model.onnx'));
  try {
    const feeds = {
      [session.inputNames[0]]: new Tensor('float32', Float32Array.from(rows.flat()), [
        rows.length,
        rows[0].length,
      ]),
    };
    const warmupEnds = performance.now() + (budgetSeconds * 1000) / 10;
    for (let i = 0; i < WARMUP_RUNS && performance.now() < warmupEnds; i++) await session.run(feeds);
    const micros: number[] = [];
    const ends = performance.now() + budgetSeconds * 1000;
    while (micros.length < iterations && (micros.length < MIN_TIMED_RUNS || performance.now() < ends)) {
      const started = process.hrtime.bigint();
      await session.run(feeds);
      micros.push(Number(process.hrtime.bigint() - started) / 1000);
    }
    return { iterations: micros.length, runMicros: summarize(micros) };
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
  const versionDir = options.modelDir ?? modelArtifactDir(listModelVersions()[0]);
  const metadata = parseModelMetadata(
    JSON.parse(readFileSync(path.join(versionDir, 'metadata.json'), 'utf8')),
  );
  const { version, golden } = metadata;
  const durationSeconds = options.durationSeconds ?? 5;
  const connections = options.connections ?? 8;
  const rowsPerRequest = options.rowsPerRequest ?? 1;
  const iterations = options.rawIterations ?? 5000;
  const rows = Array.from({ length: rowsPerRequest }, (_, i) => [...golden[i % golden.length].features]);

  const modelDir = await mkdtemp(path.join(tmpdir(), `bench-model-${version}-`));
  try {
    await extractModelArchive(path.join(versionDir, 'model.tar.gz'), modelDir);
    const modelBytes = readFileSync(path.join(modelDir, 'model.onnx')).length;
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
    const raw = await timeSessionRun(modelDir, rows, iterations, durationSeconds);
    return {
      version,
      modelBytes,
      connections,
      durationSeconds,
      rowsPerRequest,
      server,
      container,
      raw,
    };
  } finally {
    await rm(modelDir, { recursive: true, force: true });
  }
}

/** The figures of one run, one line each, so several runs print as columns side by side. */
function figures(result: ModelBenchResult): [string, string][] {
  const { server, container, raw } = result;
  const loadRows = (name: string, summary: LoadSummary): [string, string][] => [
    [`${name} throughput`, `${summary.requestsPerSecond.toFixed(0)} req/s`],
    [`${name} latency p50`, `${summary.latencyMs.p50.toFixed(2)} ms`],
    [`${name} latency p99`, `${summary.latencyMs.p99.toFixed(2)} ms`],
    [`${name} failures`, String(summary.failures)],
  ];
  const overheadMs = server.latencyMs.p50 - raw.runMicros.p50 / 1000;
  const rows: [string, string][] = [
    ['model.onnx', `${(result.modelBytes / 1e6).toFixed(1)} MB`],
    ['rows per request', String(result.rowsPerRequest)],
    ['raw session.run p50', `${raw.runMicros.p50.toFixed(1)} µs`],
    ['raw session.run p99', `${raw.runMicros.p99.toFixed(1)} µs`],
    ...loadRows('process', server),
    ['process p50 - session.run p50', `${overheadMs.toFixed(2)} ms`],
  ];
  if (!container) return rows;
  return [
    ...rows,
    ['container docker run to /ping 200', `${container.startToPingMs.toFixed(0)} ms`],
    ...loadRows('container', container),
    ['container / process throughput', (container.requestsPerSecond / server.requestsPerSecond).toFixed(2)],
  ];
}

/** Runs as aligned columns (one per model and batch size) under one title. */
export function formatModelBench(results: readonly ModelBenchResult[]): string {
  const [first] = results;
  const columns = results.map(figures);
  const names = columns
    .reduce((longest, column) => (column.length > longest.length ? column : longest))
    .map(([n]) => n);
  const header = ['', ...results.map((r) => r.version)];
  const table = [
    header,
    ...names.map((name) => [name, ...columns.map((c) => c.find(([n]) => n === name)?.[1] ?? '')]),
  ];
  const widths = header.map((_, c) => Math.max(...table.map((row) => row[c].length)));
  const title =
    `model server: ${first.connections} connections, ${first.durationSeconds} s per load, ` +
    'session.run timed for as long (at most 5000 calls)';
  const line = (row: string[]) =>
    `  ${row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')}`;
  return [title, ...table.map(line)].join('\n');
}

const USAGE = `Usage: npm run bench:model [-- --model DIR[,DIR...]] [-- --rows 1[,100]] [-- --duration 5]
                           [-- --connections 8] [-- --container]

Model-server throughput and latency (the container entry point in a child process, on 127.0.0.1) next to
the raw ONNX session.run time of the same model, in one run, for each model and batch size.
  --model DIR,...   version folders (model.tar.gz + metadata.json) or version names under models/
                    (default the oldest version there); any task
  --rows N,...      rows per invocation (default 1)
  --duration S      seconds of load (default 5)
  --connections N   concurrent keep-alive connections (default 8)
  --container       also run the model server image (\`npm run images\` first): time from docker run
                    to /ping 200 and the same load, next to the process's
  --help            this text`;

function positiveIntegers(flag: string, raw: string | undefined): number[] | undefined {
  if (raw === undefined) return undefined;
  const values = raw.split(',').map(Number);
  if (!values.every((value) => Number.isInteger(value) && value >= 1)) {
    process.stderr.write(`--${flag} must be positive integers, not "${raw}"\n`);
    process.exit(2);
  }
  return values;
}

function modelDirOf(name: string): string {
  const dir = existsSync(path.join(name, 'metadata.json')) ? name : modelArtifactDir(name);
  if (!existsSync(path.join(dir, 'model.tar.gz'))) {
    process.stderr.write(
      `--model: ${name} is neither a version folder nor a version under models/ (npm run model:add makes one)\n`,
    );
    process.exit(2);
  }
  return dir;
}

function parseArgs(args: readonly string[]): ModelBenchOptions[] {
  const flags = parseCli(args, {
    usage: USAGE,
    flags: {
      model: 'string',
      duration: 'string',
      connections: 'string',
      rows: 'string',
      container: 'boolean',
    },
  });
  const models = flags.model?.split(',').map(modelDirOf) ?? [undefined];
  const rows = positiveIntegers('rows', flags.rows) ?? [1];
  const common = {
    durationSeconds: positiveIntegers('duration', flags.duration)?.[0],
    connections: positiveIntegers('connections', flags.connections)?.[0],
    container: flags.container === true,
  };
  return models.flatMap((modelDir) =>
    rows.map((rowsPerRequest) => ({ ...common, modelDir, rowsPerRequest })),
  );
}

async function main(runs: readonly ModelBenchOptions[]): Promise<void> {
  const results: ModelBenchResult[] = [];
  for (const run of runs) {
    process.stderr.write(
      `measuring ${run.modelDir ?? 'the oldest version'}, ${run.rowsPerRequest} row(s) per request\n`,
    );
    results.push(await benchModelServer(run));
  }
  console.log(formatModelBench(results));
}

if (require.main === module) {
  main(parseArgs(process.argv.slice(2))).catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
