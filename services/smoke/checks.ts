/**
 * Pure verdicts of the smoke test: each takes what the API answered and says
 * whether the deployed service keeps its contract. No I/O here, so unit tests
 * call these directly and the CLI stays a thin adapter.
 */

/** A golden request: features whose label a model version is known to predict. */
export interface GoldenCase {
  readonly features: readonly number[];
  readonly label: string;
}

/** Golden requests per model version, from each version's `metadata.json`. */
export type GoldenByVersion = Readonly<Record<string, readonly GoldenCase[]>>;

/** Deployed production variants and the model version each one serves. */
export type DeployedVariants = Readonly<Record<string, string>>;

/** The `POST /predict` 200 answer (CONTRACTS.md). */
export interface PredictAnswer {
  readonly predictionId: string;
  readonly result: { readonly label: string; readonly probabilities: readonly number[] };
  readonly modelVersion: string;
  readonly variant: string;
}

/** One HTTP exchange as the smoke test observed it. */
export interface Exchange {
  readonly status: number;
  /** Parsed JSON body, or the raw text when it was not JSON. */
  readonly body: unknown;
  readonly latencyMs: number;
}

/** One golden request sent and what came back. */
export interface GoldenExchange extends Exchange {
  readonly features: readonly number[];
}

/** Outcome of one named check, as printed and written to the JUnit report. */
export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  readonly durationMs: number;
  readonly detail: string;
}

/** A verdict before timing is attached. */
export interface Verdict {
  readonly ok: boolean;
  readonly detail: string;
}

const pass = (detail: string): Verdict => ({ ok: true, detail });
const fail = (detail: string): Verdict => ({ ok: false, detail });

/** Why `body` is not a valid predict answer, or undefined when it is. */
export function contractViolation(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'body is not a JSON object';
  const { predictionId, result, modelVersion, variant } = body as Record<string, unknown>;
  if (typeof predictionId !== 'string' || predictionId === '')
    return 'predictionId is not a non-empty string';
  if (typeof modelVersion !== 'string' || modelVersion === '')
    return 'modelVersion is not a non-empty string';
  if (typeof variant !== 'string' || variant === '') return 'variant is not a non-empty string';
  if (typeof result !== 'object' || result === null) return 'result is not an object';
  const { label, probabilities } = result as Record<string, unknown>;
  if (typeof label !== 'string') return 'result.label is not a string';
  if (
    !Array.isArray(probabilities) ||
    probabilities.length === 0 ||
    !probabilities.every((p) => typeof p === 'number' && Number.isFinite(p) && p >= 0 && p <= 1)
  ) {
    return 'result.probabilities is not a non-empty array of numbers in [0, 1]';
  }
  return undefined;
}

/** Narrows an exchange to a contract-conforming 200 answer. */
export function asAnswer(exchange: Exchange): PredictAnswer | undefined {
  return exchange.status === 200 && contractViolation(exchange.body) === undefined
    ? (exchange.body as PredictAnswer)
    : undefined;
}

/** Every golden request answered 200 with `{predictionId, result, modelVersion, variant}`. */
export function checkContract(exchanges: readonly Exchange[]): Verdict {
  if (exchanges.length === 0) return fail('no golden request was sent');
  const problems = exchanges.flatMap((exchange, index) => {
    if (exchange.status !== 200) return [`#${index} HTTP ${exchange.status} ${describeError(exchange.body)}`];
    const violation = contractViolation(exchange.body);
    return violation ? [`#${index} ${violation}`] : [];
  });
  return problems.length === 0
    ? pass(`${exchanges.length} answers with the contract`)
    : fail(`${problems.length}/${exchanges.length} broke the contract: ${summarize(problems)}`);
}

/**
 * The golden label a model version predicts for these features, if that version
 * lists them among its golden requests (a version's golden set says nothing about
 * rows it does not list).
 */
export function expectedLabel(
  golden: GoldenByVersion,
  modelVersion: string,
  features: readonly number[],
): string | undefined {
  return golden[modelVersion]?.find((g) => sameFeatures(g.features, features))?.label;
}

/**
 * Each answer's label equals the golden label of the model version that served it.
 * Answers from a version that does not list those features cannot be judged and are
 * counted, not failed; at least one answer must be judged.
 */
export function checkLabels(exchanges: readonly GoldenExchange[], golden: GoldenByVersion): Verdict {
  let judged = 0;
  const wrong: string[] = [];
  for (const exchange of exchanges) {
    const answer = asAnswer(exchange);
    if (!answer) continue;
    const expected = expectedLabel(golden, answer.modelVersion, exchange.features);
    if (expected === undefined) continue;
    judged += 1;
    if (answer.result.label !== expected) {
      wrong.push(
        `[${exchange.features.join(', ')}] on ${answer.modelVersion}: got ${answer.result.label}, expected ${expected}`,
      );
    }
  }
  const served = exchanges.filter((e) => asAnswer(e) !== undefined).length;
  if (judged === 0) return fail(`none of ${served} answers could be judged against its version's golden set`);
  return wrong.length === 0
    ? pass(
        `${judged} labels match the serving version's golden label` +
          (served > judged
            ? ` (${served - judged} not judgeable: the version that answered lists no golden label for those features)`
            : ''),
      )
    : fail(`${wrong.length}/${judged} wrong labels: ${summarize(wrong)}`);
}

/** Every answer names a deployed variant, and that variant's model version. */
export function checkVariants(exchanges: readonly Exchange[], deployed: DeployedVariants): Verdict {
  const answers = exchanges.map(asAnswer).filter((a): a is PredictAnswer => a !== undefined);
  if (answers.length === 0) return fail('no valid answer to check');
  const problems = answers.flatMap((answer) => {
    const version = deployed[answer.variant];
    if (version === undefined) return [`unknown variant ${answer.variant}`];
    return version === answer.modelVersion
      ? []
      : [`${answer.variant} answered ${answer.modelVersion}, deployed ${version}`];
  });
  const counts = new Map<string, number>();
  for (const answer of answers) counts.set(answer.variant, (counts.get(answer.variant) ?? 0) + 1);
  const seen = [...counts].map(([variant, count]) => `${variant}×${count}`).join(', ');
  return problems.length === 0 ? pass(`served by ${seen}`) : fail(summarize(unique(problems)));
}

/** What one direct `InvokeEndpoint` with `TargetVariant` returned (golden rows of one version, batched). */
export type VariantExchange =
  | {
      readonly ok: true;
      /** SageMaker's `InvokedProductionVariant`. */
      readonly invokedVariant: string | undefined;
      /** The model server's parsed answer, or its raw text. */
      readonly body: unknown;
      readonly latencyMs: number;
    }
  | { readonly ok: false; readonly error: string; readonly latencyMs: number };

/**
 * A variant invoked directly (bypassing the weights) answers from that variant, with the model
 * version it is deployed with, and predicts that version's golden label for every golden row.
 * This is what proves a candidate at weight 0 before any user request reaches it.
 */
export function checkVariantDirect(
  variant: string,
  version: string,
  exchange: VariantExchange,
  cases: readonly GoldenCase[],
): Verdict {
  if (cases.length === 0) return fail(`${version} has no golden requests to send to ${variant}`);
  if (!exchange.ok) return fail(`InvokeEndpoint on ${variant} failed: ${exchange.error}`);
  if (exchange.invokedVariant !== variant) {
    return fail(`asked for ${variant}, answered by ${exchange.invokedVariant ?? 'no variant'}`);
  }
  const body = exchange.body as { modelVersion?: unknown; predictions?: unknown } | null;
  if (typeof body !== 'object' || body === null) return fail('the model server answer is not JSON');
  if (body.modelVersion !== version) {
    return fail(`${variant} serves ${String(body.modelVersion)}, deployed ${version}`);
  }
  const predictions = Array.isArray(body.predictions) ? (body.predictions as { label?: unknown }[]) : [];
  if (predictions.length !== cases.length) {
    return fail(`${predictions.length} predictions for ${cases.length} golden rows`);
  }
  const wrong = cases.flatMap((golden, index) =>
    predictions[index]?.label === golden.label
      ? []
      : [
          `[${golden.features.join(', ')}]: got ${String(predictions[index]?.label)}, expected ${golden.label}`,
        ],
  );
  return wrong.length === 0
    ? pass(`${variant} (${version}) answered ${cases.length} golden labels directly`)
    : fail(`${wrong.length}/${cases.length} wrong labels on ${variant}: ${summarize(wrong)}`);
}

/** A malformed request is refused with 4xx and `{"error": {"code", "message"}}`. */
export function checkMalformedRefused(exchange: Exchange): Verdict {
  if (exchange.status < 400 || exchange.status >= 500) {
    return fail(`expected 4xx, got HTTP ${exchange.status} ${describeError(exchange.body)}`);
  }
  const error = (exchange.body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (typeof error?.code !== 'string' || typeof error.message !== 'string') {
    return fail(`HTTP ${exchange.status} without {"error":{"code","message"}}`);
  }
  return pass(`HTTP ${exchange.status} ${error.code}`);
}

/** Allowed distance between the stored `expirationTime` and now + TTL. */
export const TTL_TOLERANCE_SECONDS = 3_600;

/**
 * `GET /predictions/{id}` returns the record stored for `answer`, with
 * `expirationTime` about `ttlDays` ahead of `nowMs`.
 */
export function checkStoredRecord(
  exchange: Exchange,
  answer: PredictAnswer,
  nowMs: number,
  ttlDays = 30,
): Verdict {
  if (exchange.status !== 200) return fail(`HTTP ${exchange.status} ${describeError(exchange.body)}`);
  if (typeof exchange.body !== 'object' || exchange.body === null) return fail('body is not a JSON object');
  const record = exchange.body as Record<string, unknown>;
  const result = record.result as { label?: unknown } | undefined;
  const mismatches = [
    record.predictionId === answer.predictionId ? undefined : 'predictionId',
    record.modelVersion === answer.modelVersion ? undefined : 'modelVersion',
    record.variant === answer.variant ? undefined : 'variant',
    result?.label === answer.result.label ? undefined : 'result.label',
  ].filter((field): field is string => field !== undefined);
  if (mismatches.length > 0) return fail(`stored record differs in ${mismatches.join(', ')}`);
  const { expirationTime } = record;
  if (typeof expirationTime !== 'number') return fail('expirationTime is missing');
  const aheadDays = (expirationTime - nowMs / 1000) / 86_400;
  const offBySeconds = Math.abs(expirationTime - (nowMs / 1000 + ttlDays * 86_400));
  return offBySeconds <= TTL_TOLERANCE_SECONDS
    ? pass(`record stored, expires in ${aheadDays.toFixed(2)} days`)
    : fail(`expirationTime is ${aheadDays.toFixed(2)} days ahead, expected ${ttlDays}`);
}

/** Nearest-rank percentile; `NaN` for no samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** p95 latency of the successful golden requests is under the budget. */
export function checkLatency(latenciesMs: readonly number[], budgetMs: number): Verdict {
  if (latenciesMs.length === 0) return fail('no successful request to time');
  const p95 = percentile(latenciesMs, 95);
  const detail = `p95 ${p95.toFixed(0)} ms over ${latenciesMs.length} requests, budget ${budgetMs} ms`;
  return p95 < budgetMs ? pass(detail) : fail(detail);
}

/** `✓ name — 12 ms — detail`, one line per check. */
export function formatResult(result: CheckResult): string {
  return `${result.ok ? '✓' : '✗'} ${result.name} — ${Math.round(result.durationMs)} ms — ${result.detail}`;
}

/** The closing line: what passed, or which checks failed. */
export function summaryLine(results: readonly CheckResult[], wallMs: number): string {
  const failed = results.filter((r) => !r.ok).map((r) => r.name);
  return failed.length === 0
    ? `Smoke test passed: ${results.length} checks in ${Math.round(wallMs)} ms`
    : `Smoke test FAILED: ${failed.length}/${results.length} checks failed: ${failed.join(', ')}`;
}

/** A JUnit XML report (one testsuite, one testcase per check) as CodeBuild test reports read it. */
export function junitXml(results: readonly CheckResult[], suiteName: string, timestamp: Date): string {
  const failures = results.filter((r) => !r.ok).length;
  const total = results.reduce((sum, r) => sum + r.durationMs, 0) / 1000;
  const cases = results.map((r) => {
    const open = `    <testcase classname="${xml(suiteName)}" name="${xml(r.name)}" time="${(r.durationMs / 1000).toFixed(3)}"`;
    return r.ok
      ? `${open}>\n      <system-out>${xml(r.detail)}</system-out>\n    </testcase>`
      : `${open}>\n      <failure message="${xml(r.detail)}">${xml(r.detail)}</failure>\n    </testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites tests="${results.length}" failures="${failures}" time="${total.toFixed(3)}">`,
    `  <testsuite name="${xml(suiteName)}" tests="${results.length}" failures="${failures}" errors="0" ` +
      `time="${total.toFixed(3)}" timestamp="${timestamp.toISOString()}">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

function xml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

function describeError(body: unknown): string {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (typeof error?.code === 'string') return `${error.code}: ${String(error.message)}`;
  if (typeof body === 'string') return body.slice(0, 120);
  return '';
}

function sameFeatures(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((value, index) => value === b[index]);
}

function unique(items: readonly string[]): string[] {
  return [...new Set(items)];
}

function summarize(problems: readonly string[], max = 3): string {
  const shown = problems.slice(0, max).join('; ');
  return problems.length > max ? `${shown}; and ${problems.length - max} more` : shown;
}
