import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { modelsRoot } from '../model/artifacts';
import { parseModelMetadata } from '../model/metadata';
import { readModelVersions } from '../registry/model-versions';
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
import { loadTruthSet } from './truth-set';
import {
  checkCandidateAccuracy,
  checkServedMatchesOffline,
  servedAnswers,
  TRUTH_BATCH_ROWS,
  type ServedAnswers,
  type TruthSet,
} from './truth';
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
  /**
   * Labelled rows and each version's offline answers: with `invokeVariant`, every variant answers
   * them directly and must reproduce the offline answers; VariantB (the candidate) must be as
   * accurate as VariantA (the baseline) within the margin.
   * @default - no truth check
   */
  readonly truth?: TruthSet;
  readonly latencyBudgetMs: number;
  /** Relative tolerance of golden values (regression). @default {@link DEFAULT_VALUE_TOLERANCE} */
  readonly valueTolerance?: number;
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
        () => checkVariantDirect(variant, version, exchange, cases, run.valueTolerance),
        exchange.latencyMs,
      );
    }
  }

  if (run.invokeVariant && run.truth) await truthChecks(run.invokeVariant, run.variants, run.truth, record);

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
  timed('golden-labels', () => checkLabels(exchanges, run.golden, run.valueTolerance));
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

/** The baseline and candidate variants as the stage deploys them. */
const BASELINE_VARIANT = 'VariantA';
const CANDIDATE_VARIANT = 'VariantB';

/** Sends the truth rows to each variant directly, in batches, and judges the answers. */
async function truthChecks(
  invokeVariant: InvokeVariant,
  variants: DeployedVariants,
  truth: TruthSet,
  record: (name: string, durationMs: number, verdict: Verdict) => void,
): Promise<void> {
  const batches: (readonly number[])[][] = [];
  for (let start = 0; start < truth.rows.length; start += TRUTH_BATCH_ROWS) {
    batches.push(truth.rows.slice(start, start + TRUTH_BATCH_ROWS).map((row) => row.features));
  }
  const served: Record<string, ServedAnswers> = {};
  for (const [variant, version] of Object.entries(variants)) {
    const started = performance.now();
    const exchanges = [];
    for (const batch of batches) {
      const exchange = await invokeVariant(variant, batch);
      exchanges.push(exchange);
      if (!exchange.ok) break;
    }
    served[variant] = servedAnswers(
      variant,
      exchanges,
      batches.map((batch) => batch.length),
    );
    record(
      `truth-${variant}`,
      performance.now() - started,
      checkServedMatchesOffline(variant, version, served[variant], truth),
    );
  }
  const baseline = variants[BASELINE_VARIANT];
  const candidate = variants[CANDIDATE_VARIANT];
  if (baseline !== undefined && candidate !== undefined) {
    const started = performance.now();
    const verdict = checkCandidateAccuracy(
      { version: baseline, served: served[BASELINE_VARIANT] },
      { version: candidate, served: served[CANDIDATE_VARIANT] },
      truth,
    );
    record('truth-accuracy', performance.now() - started, verdict);
  }
}

/**
 * Golden requests of the deployed versions only (`<modelsDir>/<version>/metadata.json` each): a folder
 * the stage does not deploy has no say in its smoke test.
 * @throws Error naming the version whose metadata is missing or invalid.
 */
export function loadGolden(modelsDir: string, versions: readonly string[]): GoldenByVersion {
  return Object.fromEntries(
    [...new Set(versions)].map((version) => {
      const file = path.join(modelsDir, version, 'metadata.json');
      if (!existsSync(file)) throw new Error(`${version} is deployed but ${file} does not exist`);
      const metadata = parseModelMetadata(JSON.parse(readFileSync(file, 'utf8')));
      if (metadata.version !== version)
        throw new Error(`${file} describes ${metadata.version}, not ${version}`);
      return [version, metadata.golden];
    }),
  );
}

/** Variants as config/model-versions.json deploys them to dev: the baseline on VariantA, the candidate on VariantB. */
export function defaultVariants(): DeployedVariants {
  const { baselineVersion, candidateVersion } = readModelVersions().dev;
  return { VariantA: baselineVersion, VariantB: candidateVersion };
}

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
  let variants: DeployedVariants;
  try {
    variants = options.variants ?? defaultVariants();
    golden = loadGolden(options.modelsDir ?? modelsRoot, Object.values(variants));
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
  let truth: TruthSet | undefined;
  if (invokeVariant) {
    try {
      truth = await loadTruthSet(options.modelsDir ?? modelsRoot, Object.values(variants), options.margin);
    } catch (error) {
      io.err(`Cannot prepare the truth check: ${(error as Error).message}`);
      return 2;
    }
    io.out(
      `Truth check: ${truth.rows.length} labelled rows to every variant, answers compared with the offline evaluation's`,
    );
  }
  const report = await runSmoke({
    golden,
    invokeVariant,
    variants,
    valueTolerance: options.valueTolerance,
    truth,
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
