import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildSync } from 'esbuild';
import { parseCli } from '../scripts/cli';
import { FUNCTION_RUNTIME } from '../lib/app/service-function';
import { benchModelServer, formatModelBench } from './model';

const USAGE = `Usage: npm run bench:predict [-- --iterations N] [-- --cold-starts N] [-- --duration S]

Measures the predict path and prints its figures:
  - the predict function's bundle, built as CDK builds it (esbuild, minified, for the functions' Node major, cjs);
  - cold-start init: loading that bundle in a fresh Node process (median of --cold-starts, default 7);
  - warm handler overhead p50/p99 over --iterations calls (default 20000), model, table and
    Parameter Store replaced by in-memory answers;
  - model-server throughput and p99 at 8 connections for --duration seconds (default 5), next to
    the raw ONNX session.run time of the same model in the same run.
  --help  this text`;

const ROOT = path.join(__dirname, '..');

function bundle(entry: string, outfile: string): number {
  buildSync({
    entryPoints: [path.join(ROOT, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    // What NodejsFunction derives from the runtime (nodejs24.x → node24).
    target: FUNCTION_RUNTIME.name.replace(/^nodejs(\d+)\.x$/, 'node$1'),
    format: 'cjs',
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    logLevel: 'error',
  });
  return fs.statSync(outfile).size;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function option(raw: string | undefined, name: string, fallback: number): number {
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    process.stderr.write(`--${name} must be a positive number, not "${raw}"\n`);
    process.exit(2);
  }
  return value;
}

async function main(args: string[]): Promise<void> {
  const flags = parseCli(args, {
    usage: USAGE,
    flags: { iterations: 'string', 'cold-starts': 'string', duration: 'string' },
  });
  const iterations = option(flags.iterations, 'iterations', 20000);
  const coldStarts = option(flags['cold-starts'], 'cold-starts', 7);
  const duration = option(flags.duration, 'duration', 5);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-predict-'));
  try {
    console.error('bundling the predict function...');
    const handlerBundle = path.join(dir, 'predict', 'index.js');
    const size = bundle('services/inference/predict-handler.ts', handlerBundle);
    const gzipped = gzipSync(fs.readFileSync(handlerBundle)).length;

    console.error(`cold starts (${coldStarts})...`);
    const env = {
      ...process.env,
      ENDPOINT_NAME: 'bench',
      TABLE_NAME: 'bench',
      MODEL_PARAMETER_PREFIX: '/bench/model',
      AWS_REGION: 'us-east-1',
    };
    const initMs: number[] = [];
    for (let i = 0; i < coldStarts; i++) {
      const probe =
        'const t=process.hrtime.bigint();require(process.argv[1]);' +
        'process.stderr.write(String(Number(process.hrtime.bigint()-t)/1e6))';
      const run = spawnSync(process.execPath, ['-e', probe, handlerBundle], { env, encoding: 'utf8' });
      if (run.status !== 0) throw new Error(`loading the bundle failed: ${run.stderr}`);
      initMs.push(Number(run.stderr));
    }

    console.error(`warm handler, ${iterations} calls...`);
    const warmBundle = path.join(dir, 'warm.js');
    bundle('bench/predict-warm.ts', warmBundle);
    const warm = spawnSync(process.execPath, [warmBundle, String(iterations)], {
      env: { ...env, POWERTOOLS_LOG_LEVEL: 'ERROR' },
      encoding: 'utf8',
      stdio: ['ignore', 'ignore', 'pipe'],
      maxBuffer: 1 << 20,
    });
    if (warm.status !== 0) throw new Error(`warm run failed: ${warm.stderr}`);
    const overhead = JSON.parse(warm.stderr.trim().split('\n').pop() ?? '{}') as { p50: number; p99: number };

    console.error(`model server, ${duration} s under load...`);
    const model = await benchModelServer({ durationSeconds: duration });

    console.log('predict function');
    console.log(
      `  bundle size                 ${(size / 1024).toFixed(1)} KiB (${(gzipped / 1024).toFixed(1)} KiB gzipped)`,
    );
    console.log(
      `  cold-start init (median)    ${median(initMs).toFixed(1)} ms (${coldStarts} fresh processes)`,
    );
    console.log(`  warm overhead p50           ${overhead.p50.toFixed(1)} µs`);
    console.log(`  warm overhead p99           ${overhead.p99.toFixed(1)} µs (${iterations} calls)`);
    console.log(formatModelBench([model]));
    console.log(
      `  server p50 / raw run p50    ${((model.server.latencyMs.p50 * 1000) / model.raw.runMicros.p50).toFixed(0)}x`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(`bench:predict: ${(error as Error).message}`);
  process.exit(1);
});
