import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { modelsRoot } from '../model/artifacts';
import { readModelVersions } from '../registry/model-versions';
import { parseModelMetadata } from '../model/metadata';
import {
  asAnswer,
  checkContract,
  checkLabels,
  checkLatency,
  checkMalformedRefused,
  checkStoredRecord,
  checkVariantDirect,
  checkVariants,
  formatResult,
  junitXml,
  summaryLine,
  type CheckResult,
  type DeployedVariants,
  type GoldenByVersion,
  type GoldenExchange,
  type Verdict,
} from './checks';
import { createApiClient, type SendRequest } from './http-client';
import { parseCommand, regionFromApiUrl, usage, type SmokeOptions } from './options';
import { createVariantInvoker, type InvokeVariant } from './variant-client';

/** Where the CLI writes; tests capture it. */
export interface SmokeIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** What one smoke run found. */
export interface SmokeReport {
  readonly results: readonly CheckResult[];
  readonly ok: boolean;
  readonly wallMs: number;
}

/** Inputs of {@link runSmoke}: the golden sets, the deployed variants and a way to call the API. */
export interface SmokeRun {
  readonly golden: GoldenByVersion;
  readonly variants: DeployedVariants;
  readonly send: SendRequest;
  /**
   * Invokes one variant directly (`InvokeEndpoint` with `TargetVariant`); each deployed variant is
   * then proven with its own version's golden requests before anything goes through the API.
   * @default - no direct variant checks
   */
  readonly invokeVariant?: InvokeVariant;
  readonly latencyBudgetMs: number;
  /** Called with each result as soon as it is known. */
  readonly onResult?: (result: CheckResult) => void;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * Sends every golden request (sequentially, so latencies are not queueing), one
 * malformed request and one read-back, then judges them with the pure checks.
 */
export async function runSmoke(run: SmokeRun): Promise<SmokeReport> {
  const started = performance.now();
  const results: CheckResult[] = [];
  const record = (name: string, durationMs: number, verdict: Verdict) => {
    const result = { name, durationMs, ...verdict };
    results.push(result);
    run.onResult?.(result);
  };
  const timed = (name: string, judge: () => Verdict, extraMs = 0) => {
    const t0 = performance.now();
    const verdict = judge();
    record(name, extraMs + performance.now() - t0, verdict);
  };

  // Each variant on its own first: a candidate at weight 0 is proven here, before any user request.
  if (run.invokeVariant) {
    for (const [variant, version] of Object.entries(run.variants)) {
      const cases = run.golden[version] ?? [];
      const exchange = await run.invokeVariant(
        variant,
        cases.map((c) => c.features),
      );
      timed(
        `variant-${variant}`,
        () => checkVariantDirect(variant, version, exchange, cases),
        exchange.latencyMs,
      );
    }
  }

  const exchanges: GoldenExchange[] = [];
  const goldenStarted = performance.now();
  for (const cases of Object.values(run.golden)) {
    for (const { features } of cases) {
      const exchange = await run.send({
        method: 'POST',
        path: '/predict',
        body: JSON.stringify({ features }),
      });
      exchanges.push({ ...exchange, features });
    }
  }
  timed('contract', () => checkContract(exchanges), performance.now() - goldenStarted);
  timed('golden-labels', () => checkLabels(exchanges, run.golden));
  timed('variants', () => checkVariants(exchanges, run.variants));

  const malformed = await run.send({ method: 'POST', path: '/predict', body: '{"features": "not-a-list"}' });
  timed('malformed-request', () => checkMalformedRefused(malformed), malformed.latencyMs);

  const answer = exchanges.map(asAnswer).find((a) => a !== undefined);
  if (answer) {
    const readBack = await run.send({
      method: 'GET',
      path: `/predictions/${encodeURIComponent(answer.predictionId)}`,
    });
    const now = (run.now ?? Date.now)();
    timed('stored-record', () => checkStoredRecord(readBack, answer, now), readBack.latencyMs);
  } else {
    record('stored-record', 0, { ok: false, detail: 'no successful prediction to read back' });
  }

  timed('latency-p95', () =>
    checkLatency(
      exchanges.filter((e) => e.status === 200).map((e) => e.latencyMs),
      run.latencyBudgetMs,
    ),
  );
  return { results, ok: results.every((r) => r.ok), wallMs: performance.now() - started };
}

/** Golden requests of every model version under `modelsDir` (each `<version>/metadata.json`). */
export function loadGolden(modelsDir: string): GoldenByVersion {
  const versions = readdirSync(modelsDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(path.join(modelsDir, entry.name, 'metadata.json')))
    .map((entry) => entry.name)
    .sort();
  if (versions.length === 0) throw new Error(`No <version>/metadata.json under ${modelsDir}`);
  return Object.fromEntries(
    versions.map((version) => {
      const file = path.join(modelsDir, version, 'metadata.json');
      const metadata = parseModelMetadata(JSON.parse(readFileSync(file, 'utf8')));
      // Regression golden rows need a tolerance the checks do not have yet (issue 21, h21c).
      return [metadata.version, metadata.task === 'classification' ? metadata.golden : []];
    }),
  );
}

/** Variants as the stage deploys them: the baseline on VariantA, the candidate on VariantB. */
export const defaultVariants: DeployedVariants = {
  VariantA: readModelVersions().dev.baselineVersion,
  VariantB: readModelVersions().dev.candidateVersion,
};

/**
 * The CLI: parses arguments, runs the checks, prints a line per check, writes the
 * JUnit report. Resolves to the exit code (0 all passed, 1 a check failed, 2 usage).
 */
export async function main(argv: readonly string[], io: SmokeIo = processIo): Promise<number> {
  const command = parseCommand(argv);
  if (command.kind === 'help') {
    io.out(usage);
    return 0;
  }
  if (command.kind === 'error') {
    io.err(`${command.message}\n\n${usage}`);
    return 2;
  }
  const options = command.options;
  let golden: GoldenByVersion;
  try {
    golden = loadGolden(options.modelsDir ?? modelsRoot);
  } catch (error) {
    io.err(`Cannot read the golden requests: ${(error as Error).message}`);
    return 2;
  }
  const region = signingRegion(options, io.env);
  if (options.sign && !region) {
    io.err('Cannot tell the signing region: pass --region or set AWS_REGION (or use --no-sign locally).');
    return 2;
  }
  if (options.endpointName && !region) {
    io.err('Cannot tell the region of the endpoint: pass --region or set AWS_REGION.');
    return 2;
  }
  io.out(`Smoke test of ${options.apiUrl} (${options.sign ? `SigV4 ${region}` : 'unsigned'})`);
  io.out(
    options.endpointName
      ? `Each variant of endpoint ${options.endpointName} is invoked directly first (TargetVariant)`
      : 'No --endpoint-name: variants are only reached through the API (their weights decide which)',
  );
  const invokeVariant =
    options.endpointName && region
      ? createVariantInvoker({
          endpointName: options.endpointName,
          region,
          endpointUrl: options.runtimeUrl,
          // The local stand-in (npm start) checks no signature; AWS gets the default chain.
          credentials: options.runtimeUrl ? { accessKeyId: 'local', secretAccessKey: 'local' } : undefined,
          timeoutMs: options.requestTimeoutMs,
        })
      : undefined;
  const report = await runSmoke({
    golden,
    invokeVariant,
    variants: options.variants ?? defaultVariants,
    send: createApiClient({
      apiUrl: options.apiUrl,
      signingRegion: options.sign ? region : undefined,
      timeoutMs: options.requestTimeoutMs,
    }),
    latencyBudgetMs: options.latencyBudgetMs,
    onResult: (result) => io.out(formatResult(result)),
  });
  await mkdir(path.dirname(path.resolve(options.junitFile)), { recursive: true });
  await writeFile(options.junitFile, junitXml(report.results, 'smoke', new Date()));
  const summary = `${summaryLine(report.results, report.wallMs)} (JUnit: ${options.junitFile})`;
  if (report.ok) io.out(summary);
  else io.err(summary);
  return report.ok ? 0 : 1;
}

function signingRegion(options: SmokeOptions, env: SmokeIo['env']): string | undefined {
  return options.region ?? regionFromApiUrl(options.apiUrl) ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
}

const processIo: SmokeIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
};

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`Smoke test crashed: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
