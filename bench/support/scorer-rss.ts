/**
 * Child process of `npm run bench:batch -- --memory-only`: the scorer's own memory as input grows.
 * Runs runScorer over the object `pending/bench.jsonl` of BUCKET, streamed from S3 (s3rver), scored
 * in this process by the model of ARCHIVE (the scorer's own loader), analytics parts and rejected lines written to S3, with the table replaced by a
 * write sink that counts puts (the real table is remote: what it stores is not the scorer's memory).
 * Prints `{"written", "seconds", "cpuSeconds", "peakRssMiB"}` (CPU of the whole process, model included).
 * Arguments: S3_ENDPOINT ARCHIVE VERSION WORK_DIR BUCKET. Bundled and run by `bench/batch.ts` like the container.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { createS3ObjectStore } from '../../services/batch/adapters/object-store';
import type { PredictionsTable } from '../../services/batch/adapters/predictions-table';
import { runScorer } from '../../services/batch/scorer';
import { loadArchiveModel } from './archive-model';

async function main(): Promise<void> {
  const [s3Endpoint, archive, version, workDir, bucket] = process.argv.slice(2);
  const http = () => new NodeHttpHandler({ httpAgent: { keepAlive: true, maxSockets: 64 } });
  const s3 = new S3Client({
    endpoint: s3Endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: http(),
  });
  const model = await loadArchiveModel(archive!, version!, workDir!);
  let puts = 0;
  const sink: PredictionsTable = {
    putIfAbsent: async () => {
      puts++;
      return { status: 'created' };
    },
    putOwned: async (items) => void (puts += items.length),
    getMany: async () => new Map(),
  };
  const started = performance.now();
  const summary = await runScorer(
    {
      batchBucket: bucket!,
      analyticsBucket: bucket!,
      analyticsPrefix: 'analytics/predictions/',
      tableName: 'sink',
      modelParameterPrefix: '/bench/model',
      modelDir: workDir!,
      shardCount: 1,
      shardIndex: 0,
      batchSize: Number(process.env.BATCH_SIZE ?? 100),
      maxObjects: 1,
      maxObjectBytes: 5 * 1024 ** 3,
      writeConcurrency: 32,
      scoreConcurrency: Number(process.env.SCORE_CONCURRENCY ?? 8),
      progressIntervalSeconds: 2,
    },
    {
      store: createS3ObjectStore(s3),
      table: sink,
      model,
      log: {
        info: (message, fields) =>
          message === 'progress' &&
          process.stderr.write(
            `bench:batch: memory only: scored ${fields.rowsScored} rows, ${fields.rowsPerSecond} rows/s\n`,
          ),
        warn: (message) => process.stderr.write(`bench:batch: ${message}\n`),
      },
    },
  );
  const seconds = (performance.now() - started) / 1000;
  const usage = process.resourceUsage();
  if (puts !== summary.written) throw new Error(`sink counted ${puts} puts for ${summary.written} written`);
  process.stdout.write(
    `${JSON.stringify({ written: summary.written, seconds, cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6, peakRssMiB: usage.maxRSS / 1024 })}\n`,
  );
  s3.destroy();
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
