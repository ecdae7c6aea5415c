import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { startLocalDynamo, startLocalS3 } from '../test/batch/support/local-aws';
import { LOCAL_ENDPOINT_NAME, startLocalEndpoint } from '../test/batch/support/local-endpoint';

const HELP = `npm run bench:batch -- [--rows N] [--batch-size N] [--write-concurrency N] [--max-heap-mib N]

Scores one N-row JSON-lines object (default 100000) from s3rver with the bundled batch scorer
(services/batch/main.ts, run by node in a child process like the container) against the ONNX model
server behind the SageMaker-runtime stand-in, writing to dynalite and s3rver. Prints rows per second
and the scorer's peak RSS (process.resourceUsage().maxRSS at exit). --max-heap-mib caps the scorer's
V8 old space (--max-old-space-size), as a container's memory limit would.`;

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '100000' },
    'batch-size': { type: 'string', default: '100' },
    'write-concurrency': { type: 'string', default: '32' },
    'max-heap-mib': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

async function main(): Promise<void> {
  if (values.help) {
    console.log(HELP);
    return;
  }
  const rows = Number(values.rows);
  if (!Number.isInteger(rows) || rows < 1)
    throw new Error(`--rows must be a positive integer, got ${values.rows}`);
  const work = mkdtempSync(join(tmpdir(), 'bench-batch-'));
  const [s3, dynamo, endpoint] = await Promise.all([
    startLocalS3([]),
    startLocalDynamo(),
    startLocalEndpoint(),
  ]);
  try {
    const bundle = join(work, 'main.js');
    await build({
      entryPoints: [join(__dirname, '..', 'services', 'batch', 'main.ts')],
      bundle: true,
      platform: 'node',
      target: 'node20',
      outfile: bundle,
      logLevel: 'error',
    });
    const rssFile = join(work, 'maxrss');
    const preload = join(work, 'report-rss.js');
    writeFileSync(
      preload,
      `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(rssFile)}, String(process.resourceUsage().maxRSS)));\n`,
    );

    for (const bucket of ['bench-batch', 'bench-analytics'])
      await s3.client.send(new CreateBucketCommand({ Bucket: bucket }));
    await dynamo.createPredictionsTable('bench-predictions');
    const lines: string[] = [];
    for (let i = 0; i < rows; i++) {
      const f = [4.3 + (i % 37) * 0.1, 2 + (i % 23) * 0.1, 1 + (i % 59) * 0.1, 0.1 + (i % 25) * 0.1];
      lines.push(JSON.stringify({ features: f.map((x) => Number(x.toFixed(2))) }));
    }
    const body = lines.join('\n') + '\n';
    await s3.client.send(
      new PutObjectCommand({ Bucket: 'bench-batch', Key: 'pending/bench.jsonl', Body: body }),
    );

    const started = process.hrtime.bigint();
    const exitCode = await new Promise<number | null>((resolve, reject) => {
      const heap = values['max-heap-mib'] ? [`--max-old-space-size=${values['max-heap-mib']}`] : [];
      const child = spawn(process.execPath, [...heap, '--require', preload, bundle], {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: {
          ...process.env,
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'S3RVER',
          AWS_SECRET_ACCESS_KEY: 'S3RVER',
          AWS_ENDPOINT_URL_S3: s3.endpoint,
          AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
          AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME: endpoint.url,
          AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
          AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
          S3_FORCE_PATH_STYLE: 'true',
          BATCH_BUCKET: 'bench-batch',
          ANALYTICS_BUCKET: 'bench-analytics',
          TABLE_NAME: 'bench-predictions',
          ENDPOINT_NAME: LOCAL_ENDPOINT_NAME,
          BATCH_SIZE: values['batch-size'],
          WRITE_CONCURRENCY: values['write-concurrency'],
          MAX_OBJECT_BYTES: String(256 * 1024 * 1024),
        },
      });
      child.on('error', reject);
      child.on('exit', resolve);
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (exitCode !== 0) throw new Error(`scorer exited with ${exitCode}`);
    const stored = (await dynamo.scanAll('bench-predictions')).length;
    if (stored !== rows) throw new Error(`expected ${rows} predictions in the table, found ${stored}`);
    const maxRssMiB = Number(readFileSync(rssFile, 'utf8')) / 1024;
    console.log(
      JSON.stringify(
        {
          rows,
          inputMiB: Number((Buffer.byteLength(body) / 1048576).toFixed(1)),
          batchSize: Number(values['batch-size']),
          writeConcurrency: Number(values['write-concurrency']),
          maxHeapMiB: values['max-heap-mib'] ? Number(values['max-heap-mib']) : 'node default',
          seconds: Number(seconds.toFixed(1)),
          rowsPerSecond: Math.round(rows / seconds),
          endpointInvocations: endpoint.invocations(),
          peakRssMiB: Math.round(maxRssMiB),
        },
        null,
        2,
      ),
    );
  } finally {
    await Promise.all([s3.close(), dynamo.close(), endpoint.close()]);
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
