import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  CreateTableCommand,
  DynamoDBClient,
  ScanCommand,
  type ScanCommandOutput,
} from '@aws-sdk/client-dynamodb';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { SCORER_COMMAND } from '../lib/app/batch/batch-scoring';
import { predictionsTableInput } from '../services/local/predictions-table';
import type { BatchConfig } from '../services/batch/config';
import { createSageMakerEndpoint } from '../services/batch/adapters/model-endpoint';
import { runScorer, type StageSeconds } from '../services/batch/scorer';
import { startLocalS3 } from '../test/batch/support/local-aws';
import { LOCAL_ENDPOINT_NAME } from '../test/batch/support/local-endpoint';
import { memoryStore, memoryTable } from '../test/batch/support/memory';

const HELP = `npm run bench:batch -- [options]

Scores one N-row JSON-lines object from s3rver with the bundled batch scorer (services/batch/main.ts,
bundled as the image does and run by node with the job definition's options, in a child process like
the container) against the ONNX model server behind the
SageMaker-runtime stand-in, writing to dynalite and s3rver. dynalite and the model server each run in
their own process, s3rver in this one. Then, in the same run:
  - the ceiling of dynalite alone: BatchWriteItem of the same number of rows (at most 20000),
    25 per request, --write-concurrency in flight, from another child process;
  - the scorer alone: runScorer in this process with in-memory S3 and DynamoDB stand-ins and the
    same model server (at most --scorer-only-rows rows).
Progress goes to stderr; one JSON object with the figures to stdout.

Options:
  --rows N               rows in the input object (default 100000)
  --batch-size N         rows per endpoint request (default 500, the scorer's)
  --write-concurrency N  DynamoDB requests in flight (default 32)
  --score-concurrency N  batches in flight (default 8)
  --max-heap-mib N       cap the scorer's V8 old space (--max-old-space-size), as a container limit would
  --scorer-only-rows N   rows for the scorer-only figure, 0 to skip (default min(rows, 200000))
  --cpu-prof DIR         write a V8 CPU profile of the scorer process to DIR
  --baseline-entry FILE  also run another scorer entry file (e.g. services/batch/main.ts of an older
                         commit: git archive main services/batch | tar -x -C DIR) end to end, after
                         this one, on the same input and stand-ins, and report both
  --memory-only          only the scorer's memory as input grows: runScorer (bench/support/scorer-rss.ts,
                         bundled and run like the container) in a child process over
                         the object streamed from s3rver, scored by the model server, with the table
                         replaced by a write sink (dynalite would take hours at 1,000,000 rows here);
                         prints rows, seconds, rowsPerSecond, rowsPerCpuSecond, peakRssMiB
  --help                 this text

Exit codes: 0 done, 1 the run failed (message on stderr), 2 unknown or bad option.`;

const OPTIONS = {
  rows: { type: 'string', default: '100000' },
  'batch-size': { type: 'string', default: '500' },
  'write-concurrency': { type: 'string', default: '32' },
  'score-concurrency': { type: 'string', default: '8' },
  'max-heap-mib': { type: 'string' },
  'scorer-only-rows': { type: 'string' },
  'cpu-prof': { type: 'string' },
  'baseline-entry': { type: 'string' },
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

function inputBody(rows: number): string {
  const lines: string[] = [];
  for (let i = 0; i < rows; i++) {
    const f = [4.3 + (i % 37) * 0.1, 2 + (i % 23) * 0.1, 1 + (i % 59) * 0.1, 0.1 + (i % 25) * 0.1];
    lines.push(JSON.stringify({ features: f.map((x) => Number(x.toFixed(2))) }));
  }
  return lines.join('\n') + '\n';
}

interface StandIn {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** Starts `bench/support/stand-in.ts KIND` in its own process and waits for its endpoint. */
function startStandIn(kind: 'dynamo' | 'model'): Promise<StandIn> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [require.resolve('tsx/cli'), join(__dirname, 'support', 'stand-in.ts'), kind],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const exited = new Promise<void>((done) => child.on('exit', () => done()));
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`the ${kind} stand-in exited with ${code}`)));
    createInterface({ input: child.stdout }).once('line', (line) => {
      const { endpoint } = JSON.parse(line) as { endpoint: string };
      resolve({
        endpoint,
        async stop() {
          child.stdin.end();
          await exited;
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
  let rows: number, batchSize: number, writeConcurrency: number, scoreConcurrency: number;
  let scorerOnlyRows: number;
  try {
    rows = positive('rows', values.rows);
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
  const [s3, dynamo, model] = await Promise.all([
    startLocalS3([]),
    startStandIn('dynamo'),
    startStandIn('model'),
  ]);
  const local = { region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
  const http = () => new NodeHttpHandler({ httpAgent: { keepAlive: true, maxSockets: 64 } });
  const dynamoClient = new DynamoDBClient({ ...local, endpoint: dynamo.endpoint, requestHandler: http() });
  const modelClient = new SageMakerRuntimeClient({
    ...local,
    endpoint: model.endpoint,
    requestHandler: http(),
  });
  const createTable = (name: string) =>
    dynamoClient.send(new CreateTableCommand(predictionsTableInput(name)));
  try {
    progress(`generating a ${rows}-row input object`);
    let body: string | undefined = inputBody(rows);
    const inputMiB = Buffer.byteLength(body) / 1048576;

    if (values['memory-only']) {
      await s3.client.send(new CreateBucketCommand({ Bucket: 'memory-batch' }));
      await s3.client.send(
        new PutObjectCommand({ Bucket: 'memory-batch', Key: 'pending/bench.jsonl', Body: body }),
      );
      body = undefined;
      progress(`memory only: ${rows} rows streamed from s3rver, table replaced by a write sink`);
      let result: { written: number; seconds: number; cpuSeconds: number; peakRssMiB: number } | undefined;
      const harness = join(work, 'scorer-rss.js');
      await bundle(join(__dirname, 'support', 'scorer-rss.ts'), harness);
      const exit = await runChild(
        [
          ...CONTAINER_NODE_OPTIONS,
          ...(values['max-heap-mib'] ? [`--max-old-space-size=${values['max-heap-mib']}`] : []),
          harness,
          s3.endpoint,
          model.endpoint,
          LOCAL_ENDPOINT_NAME,
          'memory-batch',
        ],
        { ...process.env, BATCH_SIZE: String(batchSize), SCORE_CONCURRENCY: String(scoreConcurrency) },
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

    /** One end-to-end run of a scorer entry file over its own buckets and table. */
    const endToEnd = async (
      label: string,
      entry: string,
      profileDir?: string,
    ): Promise<{
      seconds: number;
      peakRssMiB: number;
      cpuSeconds: number;
      finished: Record<string, unknown>;
    }> => {
      const scorer = join(work, `${label}.js`);
      await bundle(entry, scorer);
      const rssFile = join(work, `${label}.maxrss`);
      const preload = join(work, `${label}-report-rss.js`);
      writeFileSync(
        preload,
        `process.on('exit', () => { const u = process.resourceUsage(); require('fs').writeFileSync(${JSON.stringify(rssFile)}, JSON.stringify({ maxRssKiB: u.maxRSS, cpuMicros: u.userCPUTime + u.systemCPUTime })); });\n`,
      );
      const names = {
        batch: `${label}-batch`,
        analytics: `${label}-analytics`,
        table: `${label}-predictions`,
      };
      for (const bucket of [names.batch, names.analytics])
        await s3.client.send(new CreateBucketCommand({ Bucket: bucket }));
      await createTable(names.table);
      await s3.client.send(
        new PutObjectCommand({ Bucket: names.batch, Key: 'pending/bench.jsonl', Body: body }),
      );

      progress(`end to end (${label}): scorer process → s3rver, model server, dynalite`);
      let finished: Record<string, unknown> | undefined;
      const started = performance.now();
      const heap = values['max-heap-mib'] ? [`--max-old-space-size=${values['max-heap-mib']}`] : [];
      const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
      const exitCode = await runChild(
        [...CONTAINER_NODE_OPTIONS, ...heap, ...profile, '--require', preload, scorer],
        {
          ...process.env,
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'S3RVER',
          AWS_SECRET_ACCESS_KEY: 'S3RVER',
          AWS_ENDPOINT_URL_S3: s3.endpoint,
          AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
          AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME: model.endpoint,
          AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
          AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
          S3_FORCE_PATH_STYLE: 'true',
          BATCH_BUCKET: names.batch,
          ANALYTICS_BUCKET: names.analytics,
          TABLE_NAME: names.table,
          ENDPOINT_NAME: LOCAL_ENDPOINT_NAME,
          BATCH_SIZE: String(batchSize),
          WRITE_CONCURRENCY: String(writeConcurrency),
          SCORE_CONCURRENCY: String(scoreConcurrency),
          MAX_OBJECT_BYTES: String(1024 ** 3),
          PROGRESS_INTERVAL_SECONDS: '2',
        },
        (line) => {
          if (line.message === 'progress') {
            progress(`${label}: scored ${line.rowsScored} rows, ${line.rowsPerSecond} rows/s`);
          } else if (line.message === 'run finished') {
            finished = line;
          } else if (line.level === 'ERROR' || line.level === 'WARN') {
            process.stderr.write(`${JSON.stringify(line)}\n`);
          }
        },
      );
      const seconds = (performance.now() - started) / 1000;
      if (exitCode !== 0 || !finished) throw new Error(`the ${label} scorer exited with ${exitCode}`);
      if (finished.written !== rows)
        throw new Error(`the ${label} scorer wrote ${String(finished.written)} of ${rows} rows`);
      progress(`counting the ${label} table`);
      let stored = 0;
      let start: ScanCommandOutput['LastEvaluatedKey'];
      do {
        const page = await dynamoClient.send(
          new ScanCommand({ TableName: names.table, Select: 'COUNT', ExclusiveStartKey: start }),
        );
        stored += page.Count ?? 0;
        start = page.LastEvaluatedKey;
      } while (start);
      if (stored !== rows) throw new Error(`expected ${rows} predictions in the table, found ${stored}`);
      const usage = JSON.parse(readFileSync(rssFile, 'utf8')) as { maxRssKiB: number; cpuMicros: number };
      return { seconds, peakRssMiB: usage.maxRssKiB / 1024, cpuSeconds: usage.cpuMicros / 1e6, finished };
    };

    const candidate = await endToEnd(
      'candidate',
      join(__dirname, '..', 'services', 'batch', 'main.ts'),
      values['cpu-prof'],
    );
    const baseline = values['baseline-entry']
      ? await endToEnd('baseline', values['baseline-entry'])
      : undefined;
    body = undefined;
    const { seconds, peakRssMiB, cpuSeconds, finished } = candidate;

    const ceilingRows = Math.min(rows, 20_000);
    progress(`dynalite alone: BatchWriteItem of ${ceilingRows} rows, ${writeConcurrency} in flight`);
    await createTable('bench-ceiling');
    let ceiling: { rows: number; seconds: number } | undefined;
    const ceilingExit = await runChild(
      [
        require.resolve('tsx/cli'),
        join(__dirname, 'support', 'batch-write-load.ts'),
        dynamo.endpoint,
        'bench-ceiling',
        String(ceilingRows),
        String(writeConcurrency),
      ],
      process.env,
      (line) => {
        ceiling = line as { rows: number; seconds: number };
      },
    );
    if (ceilingExit !== 0 || !ceiling) throw new Error(`the dynalite load exited with ${ceilingExit}`);
    const dynaliteRowsPerSecond = ceiling.rows / ceiling.seconds;

    let scorerOnly: Record<string, unknown> | undefined;
    if (scorerOnlyRows > 0) {
      progress(`scorer only: ${scorerOnlyRows} rows, in-memory S3 and DynamoDB, same model server`);
      const store = memoryStore();
      await store.putText('batch', 'pending/bench.jsonl', inputBody(scorerOnlyRows), 'application/x-ndjson');
      const config: BatchConfig = {
        batchBucket: 'batch',
        analyticsBucket: 'analytics',
        analyticsPrefix: 'analytics/predictions/',
        tableName: 'predictions',
        endpointName: LOCAL_ENDPOINT_NAME,
        batchSize,
        maxObjects: 1,
        maxObjectBytes: 5 * 1024 ** 3,
        writeConcurrency,
        scoreConcurrency,
        progressIntervalSeconds: 2,
      };
      const memoryStarted = performance.now();
      const cpuBefore = process.cpuUsage();
      const summary = await runScorer(config, {
        store,
        table: memoryTable(),
        endpoint: createSageMakerEndpoint(modelClient, LOCAL_ENDPOINT_NAME),
        log: {
          info: (message, fields) =>
            message === 'progress' &&
            progress(`scorer only: ${fields.rowsScored} rows, ${fields.rowsPerSecond} rows/s`),
          warn: (message) => progress(message),
        },
      });
      const memorySeconds = (performance.now() - memoryStarted) / 1000;
      const cpu = process.cpuUsage(cpuBefore);
      const memoryCpuSeconds = (cpu.user + cpu.system) / 1e6;
      if (summary.written !== scorerOnlyRows) throw new Error(`scorer only wrote ${summary.written} rows`);
      scorerOnly = {
        rows: scorerOnlyRows,
        seconds: round(memorySeconds, 2),
        rowsPerSecond: Math.round(scorerOnlyRows / memorySeconds),
        cpuSeconds: round(memoryCpuSeconds, 2),
        rowsPerCpuSecond: Math.round(scorerOnlyRows / memoryCpuSeconds),
        stageSeconds: summary.stageSeconds,
      };
    }

    const rowsPerSecond = rows / seconds;
    process.stdout.write(
      `${JSON.stringify(
        {
          rows,
          inputMiB: round(inputMiB, 1),
          batchSize,
          writeConcurrency,
          scoreConcurrency,
          maxHeapMiB: values['max-heap-mib'] ? Number(values['max-heap-mib']) : 'node default',
          seconds: round(seconds, 2),
          rowsPerSecond: Math.round(rowsPerSecond),
          peakRssMiB: Math.round(peakRssMiB),
          scorerCpuSeconds: round(cpuSeconds, 2),
          rowsPerScorerCpuSecond: Math.round(rows / cpuSeconds),
          stageSeconds: finished.stageSeconds as StageSeconds,
          stageSecondsNote:
            'busy time per stage summed over concurrent calls (read: waiting for and parsing input)',
          cpuNote:
            'rowsPerScorerCpuSecond: rows per CPU second of the scorer process alone, what one free core would score with stores and model answering at once',
          dynaliteAlone: {
            rows: ceiling.rows,
            seconds: round(ceiling.seconds, 2),
            rowsPerSecond: Math.round(dynaliteRowsPerSecond),
          },
          endToEndVsDynaliteAlone: round(rowsPerSecond / dynaliteRowsPerSecond, 2),
          baseline: baseline
            ? {
                entry: values['baseline-entry'],
                seconds: round(baseline.seconds, 2),
                rowsPerSecond: Math.round(rows / baseline.seconds),
                peakRssMiB: Math.round(baseline.peakRssMiB),
                scorerCpuSeconds: round(baseline.cpuSeconds, 2),
                rowsPerScorerCpuSecond: Math.round(rows / baseline.cpuSeconds),
                speedup: round(baseline.seconds / seconds, 2),
              }
            : 'not run (--baseline-entry)',
          scorerOnly: scorerOnly ?? 'skipped',
        },
        null,
        2,
      )}\n`,
    );
    return 0;
  } finally {
    dynamoClient.destroy();
    modelClient.destroy();
    await Promise.all([s3.close(), dynamo.stop(), model.stop()]);
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
