import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  CreateTableCommand,
  DynamoDBClient,
  ScanCommand,
  type ScanCommandOutput,
} from '@aws-sdk/client-dynamodb';
import { createHash } from 'node:crypto';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { SCORER_COMMAND } from '../lib/app/batch/batch-scoring';
import { predictionsTableInput } from '../services/local/predictions-table';
import type { BatchConfig } from '../services/batch/config';
import { shardOf } from '../services/batch/naming';
import { runScorer, type StageSeconds } from '../services/batch/scorer';
import type { ScoringModel } from '../services/batch/scoring-model';
import { startLocalS3, type LocalS3 } from '../test/batch/support/local-aws';
import { LOCAL_ENDPOINT_NAME } from '../test/batch/support/local-endpoint';
import { registryParameters, startLocalSsm } from '../test/batch/support/local-ssm';
import { memoryStore, memoryTable } from '../test/batch/support/memory';
import { loadArchiveModel } from './support/archive-model';
import { endpointModel } from './support/endpoint-model';

/** The committed model version both paths score with (demo data, used here as a realistic workload). */
const BENCH_MODEL = 'v1.0.0';
const BENCH_ARCHIVE = join(__dirname, '..', 'models', BENCH_MODEL, 'model.tar.gz');
const REGISTRY_PREFIX = '/bench/dev/model';
const OBJECTS_PER_TASK = 2;

const HELP = `npm run bench:batch -- [options]

Scores N rows of JSON-lines input from s3rver with --tasks scorer processes, as the array job runs
them: each is the bundled batch scorer (services/batch/main.ts, bundled as the image does and run by
node with the job definition's options) with SHARD_COUNT and its AWS_BATCH_JOB_ARRAY_INDEX, loading
the model version the registry names (a Parameter Store stand-in) from s3rver and scoring in its own
process with ONNX Runtime, writing to dynalite and s3rver. The input is split into objects whose keys
fall evenly on the shards (2 per task), so the figure measures the stores, not the hash's luck with
few keys. dynalite runs in its own process, s3rver and the registry in this one. Every row must be in
the table and in the analytics parts exactly once, or the run fails. Then, in the same run:
  - the ceiling of dynalite alone: BatchWriteItem of the same number of rows (at most 20000),
    25 per request, --write-concurrency in flight per process, from --tasks child processes, right
    before and right after the end-to-end run (their mean rate is the ratio's denominator);
  - the scorer alone, both model paths on the same rows: runScorer in this process with in-memory S3
    and DynamoDB stand-ins, (a) the model in this process, (b) the former path, every batch sent to
    the model server (its own process) through the SageMaker-runtime stand-in
    (at most --scorer-only-rows rows); rows/s and rows per CPU second of the processes each path uses
    (rows/s favours the path with more processes when other work shares the cores).
Progress goes to stderr; one JSON object with the figures to stdout. The model is the committed
demo version ${BENCH_MODEL} (models/${BENCH_MODEL}/model.tar.gz), which the model server stand-in serves too.

Options:
  --rows N               rows of input (default 100000)
  --tasks N              scorer processes on disjoint shards, 1-16 (default 1)
  --batch-size N         rows per model call (default 500, the scorer's)
  --write-concurrency N  DynamoDB requests in flight (default 32)
  --score-concurrency N  batches in flight (default 8)
  --max-heap-mib N       cap the scorer's V8 old space (--max-old-space-size), as a container limit would
  --scorer-only-rows N   rows for the scorer-only figure, 0 to skip (default min(rows, 200000))
  --cpu-prof DIR         write a V8 CPU profile of the scorer process to DIR
  --memory-only          only the scorer's memory as input grows: runScorer (bench/support/scorer-rss.ts,
                         bundled and run like the container) in a child process over one
                         object streamed from s3rver, the model in that process, with the table
                         replaced by a write sink (dynalite would take hours at 1,000,000 rows here);
                         prints rows, seconds, rowsPerSecond, rowsPerCpuSecond, peakRssMiB
  --help                 this text

Exit codes: 0 done, 1 the run failed (message on stderr), 2 unknown or bad option.`;

const OPTIONS = {
  rows: { type: 'string', default: '100000' },
  tasks: { type: 'string', default: '1' },
  'batch-size': { type: 'string', default: '500' },
  'write-concurrency': { type: 'string', default: '32' },
  'score-concurrency': { type: 'string', default: '8' },
  'max-heap-mib': { type: 'string' },
  'scorer-only-rows': { type: 'string' },
  'cpu-prof': { type: 'string' },
  'memory-only': { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const;

class UsageError extends Error {}

function positive(name: string, raw: string | undefined, allowZero = false): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
    throw new UsageError(
      `--${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${raw}`,
    );
  }
  return value;
}

const progress = (text: string): void => void process.stderr.write(`bench:batch: ${text}\n`);

function inputBody(rows: number, from = 0): string {
  const lines: string[] = [];
  for (let i = from; i < from + rows; i++) {
    const f = [4.3 + (i % 37) * 0.1, 2 + (i % 23) * 0.1, 1 + (i % 59) * 0.1, 0.1 + (i % 25) * 0.1];
    lines.push(JSON.stringify({ features: f.map((x) => Number(x.toFixed(2))) }));
  }
  return lines.join('\n') + '\n';
}

interface StandIn {
  readonly endpoint: string;
  /** Stops it; resolves to the CPU seconds its process used. */
  stop(): Promise<number>;
}

/** Starts `bench/support/stand-in.ts KIND` in its own process and waits for its endpoint. */
function startStandIn(kind: 'dynamo' | 'model'): Promise<StandIn> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [require.resolve('tsx/cli'), join(__dirname, 'support', 'stand-in.ts'), kind],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    // 'close': after its stdout ended, so the CPU line it prints last has been read.
    const exited = new Promise<void>((done) => child.on('close', () => done()));
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`the ${kind} stand-in exited with ${code}`)));
    let cpuSeconds = 0;
    createInterface({ input: child.stdout }).on('line', (line) => {
      const message = JSON.parse(line) as { endpoint?: string; cpuSeconds?: number };
      if (message.cpuSeconds !== undefined) cpuSeconds = message.cpuSeconds;
      if (message.endpoint === undefined) return;
      resolve({
        endpoint: message.endpoint,
        async stop() {
          child.stdin.end();
          await exited;
          return cpuSeconds;
        },
      });
    });
  });
}

/** The node options of the job definition's command (`node [options] /app/dist/main.js`). */
const CONTAINER_NODE_OPTIONS = SCORER_COMMAND.slice(1, -1);

/**
 * Bundles `entry` with esbuild as the image's build stage does (one file, source map) into `outfile`,
 * so the bench runs the code and the node options the container runs.
 */
async function bundle(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    outfile,
    // The native module is installed beside the bundle in the image; here the child finds it via NODE_PATH.
    external: ['onnxruntime-node'],
    logLevel: 'error',
    nodePaths: [join(__dirname, '..', 'node_modules')],
  });
}

/** Runs a child process, forwarding its stderr; resolves with its exit code and stdout JSON lines. */
function runChild(
  args: string[],
  env: NodeJS.ProcessEnv,
  onLine: (line: Record<string, unknown>) => void,
): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env });
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        onLine(JSON.parse(line) as Record<string, unknown>);
      } catch {
        process.stderr.write(`${line}\n`);
      }
    });
    child.on('error', reject);
    child.on('exit', resolve);
  });
}

/** `count` keys under pending/ whose shards are spread evenly over `tasks` (keys tried in order). */
function balancedKeys(count: number, tasks: number): string[] {
  const perShard = new Array<number>(tasks).fill(0);
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i++) {
    const key = `pending/bench-${i}.jsonl`;
    const shard = shardOf(key, tasks);
    if (perShard[shard]! < Math.ceil(count / tasks)) {
      perShard[shard]!++;
      keys.push(key);
    }
  }
  return keys;
}

/** Every analytics line's predictionId under `prefix` of `bucket`. */
async function analyticsIds(s3: LocalS3, bucket: string): Promise<string[]> {
  const ids: string[] = [];
  for (const key of await s3.keys(bucket, 'analytics/')) {
    const { Body } = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    for (const line of (await Body!.transformToString()).split('\n')) {
      if (line) ids.push((JSON.parse(line) as { predictionId: string }).predictionId);
    }
  }
  return ids;
}

/** Scorer-only figure of one model path: runScorer in this process over in-memory stores. */
async function scorerOnly(
  label: string,
  model: ScoringModel,
  rows: number,
  config: Omit<BatchConfig, 'batchBucket' | 'analyticsBucket'>,
): Promise<Record<string, unknown>> {
  progress(`scorer only (${label}): ${rows} rows, in-memory S3 and DynamoDB`);
  const store = memoryStore();
  await store.putText('batch', 'pending/bench.jsonl', inputBody(rows), 'application/x-ndjson');
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const summary = await runScorer(
    { ...config, batchBucket: 'batch', analyticsBucket: 'analytics' },
    {
      store,
      table: memoryTable(),
      model,
      log: {
        info: (message, fields) =>
          message === 'progress' &&
          progress(`scorer only (${label}): ${fields.rowsScored} rows, ${fields.rowsPerSecond} rows/s`),
        warn: (message) => progress(message),
      },
    },
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  if (summary.written !== rows) throw new Error(`scorer only (${label}) wrote ${summary.written} rows`);
  return {
    rows,
    seconds: round(seconds, 2),
    rowsPerSecond: Math.round(rows / seconds),
    cpuSeconds: round((cpu.user + cpu.system) / 1e6, 2),
    stageSeconds: summary.stageSeconds,
  };
}

async function main(): Promise<number> {
  let values;
  try {
    values = parseArgs({ options: OPTIONS, strict: true }).values;
  } catch (error) {
    process.stderr.write(`bench:batch: ${(error as Error).message}\nRun with --help for the options.\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  let rows: number, tasks: number, batchSize: number, writeConcurrency: number, scoreConcurrency: number;
  let scorerOnlyRows: number;
  try {
    rows = positive('rows', values.rows);
    tasks = positive('tasks', values.tasks);
    if (tasks > 16) throw new UsageError(`--tasks must be at most 16 here, got ${tasks}`);
    batchSize = positive('batch-size', values['batch-size']);
    writeConcurrency = positive('write-concurrency', values['write-concurrency']);
    scoreConcurrency = positive('score-concurrency', values['score-concurrency']);
    scorerOnlyRows =
      values['scorer-only-rows'] === undefined
        ? Math.min(rows, 200_000)
        : positive('scorer-only-rows', values['scorer-only-rows'], true);
    if (values['max-heap-mib'] !== undefined) positive('max-heap-mib', values['max-heap-mib']);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`bench:batch: ${error.message}\n`);
    return 2;
  }

  const work = mkdtempSync(join(tmpdir(), 'bench-batch-'));
  const archive = readFileSync(BENCH_ARCHIVE);
  const artifact = {
    version: BENCH_MODEL,
    bucket: 'bench-models',
    key: `${BENCH_MODEL}/model.tar.gz`,
    sha256: createHash('sha256').update(archive).digest('hex'),
  };
  const [s3, dynamo, ssm] = await Promise.all([
    startLocalS3(['bench-models']),
    startStandIn('dynamo'),
    startLocalSsm(registryParameters(REGISTRY_PREFIX, artifact)),
  ]);
  await s3.client.send(new PutObjectCommand({ Bucket: artifact.bucket, Key: artifact.key, Body: archive }));
  const local = { region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
  const http = () => new NodeHttpHandler({ httpAgent: { keepAlive: true, maxSockets: 64 } });
  const dynamoClient = new DynamoDBClient({ ...local, endpoint: dynamo.endpoint, requestHandler: http() });
  const createTable = (name: string) =>
    dynamoClient.send(new CreateTableCommand(predictionsTableInput(name)));
  const heap = values['max-heap-mib'] ? [`--max-old-space-size=${values['max-heap-mib']}`] : [];
  // The bundles leave onnxruntime-node external, as the image installs it beside them.
  const childEnv = { ...process.env, NODE_PATH: join(__dirname, '..', 'node_modules') };
  try {
    const inputMiB =
      (Buffer.byteLength(inputBody(Math.min(rows, 1000))) / 1048576) * (rows / Math.min(rows, 1000));

    if (values['memory-only']) {
      await s3.client.send(new CreateBucketCommand({ Bucket: 'memory-batch' }));
      progress(`generating a ${rows}-row input object`);
      await s3.client.send(
        new PutObjectCommand({ Bucket: 'memory-batch', Key: 'pending/bench.jsonl', Body: inputBody(rows) }),
      );
      progress(
        `memory only: ${rows} rows streamed from s3rver, model in process, table replaced by a write sink`,
      );
      let result: { written: number; seconds: number; cpuSeconds: number; peakRssMiB: number } | undefined;
      const harness = join(work, 'scorer-rss.js');
      await bundle(join(__dirname, 'support', 'scorer-rss.ts'), harness);
      const exit = await runChild(
        [
          ...CONTAINER_NODE_OPTIONS,
          ...heap,
          harness,
          s3.endpoint,
          BENCH_ARCHIVE,
          BENCH_MODEL,
          join(work, 'rss-model'),
          'memory-batch',
        ],
        { ...childEnv, BATCH_SIZE: String(batchSize), SCORE_CONCURRENCY: String(scoreConcurrency) },
        (line) => {
          result = line as typeof result;
        },
      );
      if (exit !== 0 || !result) throw new Error(`the memory-only scorer exited with ${exit}`);
      if (result.written !== rows)
        throw new Error(`the memory-only scorer wrote ${result.written} of ${rows}`);
      process.stdout.write(
        `${JSON.stringify(
          {
            mode: 'memory only (table: write sink)',
            rows,
            inputMiB: round(inputMiB, 1),
            seconds: round(result.seconds, 2),
            rowsPerSecond: Math.round(rows / result.seconds),
            rowsPerCpuSecond: Math.round(rows / result.cpuSeconds),
            peakRssMiB: Math.round(result.peakRssMiB),
          },
          null,
          2,
        )}\n`,
      );
      return 0;
    }

    // End to end: --tasks scorer processes on disjoint shards of the same buckets and table.
    const names = { batch: 'bench-batch', analytics: 'bench-analytics', table: 'bench-predictions' };
    for (const bucket of [names.batch, names.analytics])
      await s3.client.send(new CreateBucketCommand({ Bucket: bucket }));
    await createTable(names.table);
    const keys = balancedKeys(tasks * OBJECTS_PER_TASK, tasks);
    progress(`generating ${rows} rows in ${keys.length} objects for ${tasks} task(s)`);
    let from = 0;
    for (const [i, key] of keys.entries()) {
      const count = Math.floor(rows / keys.length) + (i < rows % keys.length ? 1 : 0);
      await s3.client.send(
        new PutObjectCommand({ Bucket: names.batch, Key: key, Body: inputBody(count, from) }),
      );
      from += count;
    }
    const ceilingRows = Math.min(rows, 20_000);
    /** dynalite alone: BatchWriteItem of ceilingRows rows from --tasks processes; resolves to seconds. */
    const dynaliteAlone = async (table: string): Promise<number> => {
      progress(
        `dynalite alone: BatchWriteItem of ${ceilingRows} rows from ${tasks} process(es), ${writeConcurrency} in flight each`,
      );
      await createTable(table);
      const ceilingStarted = performance.now();
      await Promise.all(
        Array.from({ length: tasks }, async (_, i) => {
          const share = Math.floor(ceilingRows / tasks) + (i < ceilingRows % tasks ? 1 : 0);
          const exit = await runChild(
            [
              require.resolve('tsx/cli'),
              join(__dirname, 'support', 'batch-write-load.ts'),
              dynamo.endpoint,
              table,
              String(share),
              String(writeConcurrency),
              `w${i}-`,
            ],
            process.env,
            () => undefined,
          );
          if (exit !== 0) throw new Error(`the dynalite load exited with ${exit}`);
        }),
      );
      return (performance.now() - ceilingStarted) / 1000;
    };
    const scorer = join(work, 'scorer.js');
    await bundle(join(__dirname, '..', 'services', 'batch', 'main.ts'), scorer);
    const ceilingBefore = await dynaliteAlone('bench-ceiling-before');
    progress(`end to end: ${tasks} scorer process(es) → s3rver, registry, dynalite; model in each process`);
    const started = performance.now();
    const usages: { maxRssKiB: number; cpuMicros: number }[] = [];
    const finished: Record<string, unknown>[] = [];
    await Promise.all(
      Array.from({ length: tasks }, async (_, index) => {
        const rssFile = join(work, `task-${index}.usage`);
        const preload = join(work, `task-${index}-report-usage.js`);
        writeFileSync(
          preload,
          `process.on('exit', () => { const u = process.resourceUsage(); require('fs').writeFileSync(${JSON.stringify(rssFile)}, JSON.stringify({ maxRssKiB: u.maxRSS, cpuMicros: u.userCPUTime + u.systemCPUTime })); });\n`,
        );
        const profile = values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] : [];
        const exitCode = await runChild(
          [...CONTAINER_NODE_OPTIONS, ...heap, ...profile, '--require', preload, scorer],
          {
            ...childEnv,
            AWS_REGION: 'us-east-1',
            AWS_ACCESS_KEY_ID: 'S3RVER',
            AWS_SECRET_ACCESS_KEY: 'S3RVER',
            AWS_ENDPOINT_URL_S3: s3.endpoint,
            AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
            AWS_ENDPOINT_URL_SSM: ssm.endpoint,
            AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
            AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
            S3_FORCE_PATH_STYLE: 'true',
            BATCH_BUCKET: names.batch,
            ANALYTICS_BUCKET: names.analytics,
            TABLE_NAME: names.table,
            MODEL_PARAMETER_PREFIX: REGISTRY_PREFIX,
            MODEL_DIR: join(work, `model-${index}`),
            SHARD_COUNT: String(tasks),
            AWS_BATCH_JOB_ARRAY_INDEX: String(index),
            BATCH_SIZE: String(batchSize),
            WRITE_CONCURRENCY: String(writeConcurrency),
            SCORE_CONCURRENCY: String(scoreConcurrency),
            MAX_OBJECT_BYTES: String(1024 ** 3),
            PROGRESS_INTERVAL_SECONDS: '2',
          },
          (line) => {
            if (line.message === 'progress') {
              progress(`task ${index}: scored ${line.rowsScored} rows, ${line.rowsPerSecond} rows/s`);
            } else if (line.message === 'run finished') {
              finished.push(line);
            } else if (line.level === 'ERROR' || line.level === 'WARN') {
              process.stderr.write(`${JSON.stringify(line)}\n`);
            }
          },
        );
        if (exitCode !== 0) throw new Error(`scorer task ${index} exited with ${exitCode}`);
        usages.push(JSON.parse(readFileSync(rssFile, 'utf8')) as { maxRssKiB: number; cpuMicros: number });
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const written = finished.reduce((sum, f) => sum + Number(f.written), 0);
    if (finished.length !== tasks || written !== rows) {
      throw new Error(`the ${tasks} task(s) reported ${written} rows written of ${rows}`);
    }
    progress('checking every row is in the table and the analytics parts exactly once');
    let stored = 0;
    let start: ScanCommandOutput['LastEvaluatedKey'];
    do {
      const page = await dynamoClient.send(
        new ScanCommand({ TableName: names.table, Select: 'COUNT', ExclusiveStartKey: start }),
      );
      stored += page.Count ?? 0;
      start = page.LastEvaluatedKey;
    } while (start);
    const ids = await analyticsIds(s3, names.analytics);
    if (stored !== rows || ids.length !== rows || new Set(ids).size !== rows) {
      throw new Error(
        `expected ${rows} rows once each: table ${stored}, analytics ${ids.length} (${new Set(ids).size} distinct)`,
      );
    }
    if ((await s3.keys(names.batch, 'pending/')).length > 0) throw new Error('input left in pending/');

    // Measured right before and right after the end-to-end run, so load that drifts meanwhile (shared
    // cores) weighs on both sides of the ratio alike.
    const ceilingSeconds = [ceilingBefore, await dynaliteAlone('bench-ceiling-after')];
    const dynaliteRowsPerSecond = (2 * ceilingRows) / (ceilingSeconds[0]! + ceilingSeconds[1]!);

    let scorerOnlyFigures: Record<string, unknown> | string = 'skipped';
    if (scorerOnlyRows > 0) {
      const config = {
        analyticsPrefix: 'analytics/predictions/',
        tableName: 'predictions',
        modelParameterPrefix: REGISTRY_PREFIX,
        modelDir: join(work, 'scorer-only-model'),
        shardCount: 1,
        shardIndex: 0,
        batchSize,
        maxObjects: 1,
        maxObjectBytes: 5 * 1024 ** 3,
        writeConcurrency,
        scoreConcurrency,
        progressIntervalSeconds: 2,
      };
      const inProcessModel = await loadArchiveModel(BENCH_ARCHIVE, BENCH_MODEL, config.modelDir);
      const inProcess = await scorerOnly('in process', inProcessModel, scorerOnlyRows, config);
      const server = await startStandIn('model');
      const runtime = new SageMakerRuntimeClient({
        ...local,
        endpoint: server.endpoint,
        requestHandler: http(),
      });
      let viaEndpoint: Record<string, unknown>;
      try {
        viaEndpoint = await scorerOnly(
          'endpoint',
          endpointModel(runtime, LOCAL_ENDPOINT_NAME, {
            version: BENCH_MODEL,
            featureCount: inProcessModel.featureCount,
          }),
          scorerOnlyRows,
          config,
        );
      } finally {
        runtime.destroy();
      }
      // The model server's process works for the endpoint path too (its CPU includes loading the model).
      const serverCpuSeconds = await server.stop();
      const endpointCpu = Number(viaEndpoint.cpuSeconds) + serverCpuSeconds;
      scorerOnlyFigures = {
        inProcess: {
          ...inProcess,
          rowsPerCpuSecond: Math.round(scorerOnlyRows / Number(inProcess.cpuSeconds)),
        },
        endpoint: {
          ...viaEndpoint,
          modelServerCpuSeconds: round(serverCpuSeconds, 2),
          rowsPerCpuSecond: Math.round(scorerOnlyRows / endpointCpu),
        },
        inProcessVsEndpoint: round(Number(inProcess.rowsPerSecond) / Number(viaEndpoint.rowsPerSecond), 2),
        inProcessVsEndpointPerCpuSecond: round(endpointCpu / Number(inProcess.cpuSeconds), 2),
        note: 'endpoint: the former path, each batch through the SageMaker-runtime stand-in to the model server in its own process. cpuSeconds: this process (both paths), plus the model server process (endpoint). Per CPU second holds when other work shares the cores; rows/s does not.',
      };
    }

    const rowsPerSecond = rows / seconds;
    const cpuSeconds = usages.reduce((sum, u) => sum + u.cpuMicros / 1e6, 0);
    process.stdout.write(
      `${JSON.stringify(
        {
          rows,
          tasks,
          inputMiB: round(inputMiB, 1),
          batchSize,
          writeConcurrency,
          scoreConcurrency,
          maxHeapMiB: values['max-heap-mib'] ? Number(values['max-heap-mib']) : 'node default',
          seconds: round(seconds, 2),
          rowsPerSecond: Math.round(rowsPerSecond),
          everyRowExactlyOnce: true,
          peakRssMiBPerTask: usages.map((u) => Math.round(u.maxRssKiB / 1024)),
          scorerCpuSeconds: round(cpuSeconds, 2),
          rowsPerScorerCpuSecond: Math.round(rows / cpuSeconds),
          stageSecondsPerTask: finished.map((f) => f.stageSeconds as StageSeconds),
          stageSecondsNote:
            'busy time per stage summed over concurrent calls (read: waiting for and parsing input; score: ONNX Runtime in the task)',
          dynaliteAlone: {
            rows: ceilingRows,
            processes: tasks,
            secondsBeforeAndAfter: ceilingSeconds.map((x) => round(x, 2)),
            rowsPerSecond: Math.round(dynaliteRowsPerSecond),
          },
          endToEndVsDynaliteAlone: round(rowsPerSecond / dynaliteRowsPerSecond, 2),
          scorerOnly: scorerOnlyFigures,
        },
        null,
        2,
      )}\n`,
    );
    return 0;
  } finally {
    dynamoClient.destroy();
    await Promise.all([s3.close(), dynamo.stop(), ssm.close()]);
    rmSync(work, { recursive: true, force: true });
  }
}

const round = (n: number, digits: number): number => Number(n.toFixed(digits));

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`bench:batch failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
