/**
 * The smoke test's truth check (docs/QUALITY.md): each deployed variant answers the same labelled
 * evaluation rows directly (`TargetVariant`), and must (1) give, row by row, the answer the offline
 * evaluation got from the same version, and (2) for the candidate, be no less accurate (no higher
 * MAE) than the baseline by more than the stage's margin. Pure verdicts; main.ts does the I/O.
 */
import {
  compareAccuracy,
  compareMae,
  DEFAULT_QUALITY_MARGIN,
  type ModelAnswer,
  type QualityComparison,
  type QualityMargin,
} from '../evaluation/evaluate';
import type { LabelledRow } from '../evaluation/rows';
import type { VariantExchange, Verdict } from './checks';

/** Largest difference between a served and an offline probability (both float32, rounded to 6 digits). */
export const PROBABILITY_TOLERANCE = 1e-4;
/** Largest relative difference between a served and an offline regression value. */
export const VALUE_TOLERANCE = 1e-4;
/** Rows per InvokeEndpoint request (well below SageMaker's 6 MB payload). */
export const TRUTH_BATCH_ROWS = 100;

/** What the truth check needs: the rows, what each version answered offline, and the margin. */
export interface TruthSet {
  readonly rows: readonly LabelledRow[];
  /** Per model version, its offline answer for each row (same order as `rows`). */
  readonly offline: Readonly<Record<string, readonly ModelAnswer[]>>;
  readonly margin?: QualityMargin;
}

/** The answers a variant served for the truth rows, or why it could not answer them all. */
export type ServedAnswers =
  | { readonly ok: true; readonly answers: readonly ModelAnswer[] }
  | { readonly ok: false; readonly error: string };

function isAnswer(value: unknown): value is ModelAnswer {
  if (typeof value !== 'object' || value === null) return false;
  const answer = value as Record<string, unknown>;
  if ('value' in answer) return typeof answer.value === 'number';
  return (
    typeof answer.label === 'string' &&
    Array.isArray(answer.probabilities) &&
    answer.probabilities.every((p) => typeof p === 'number')
  );
}

/** Collects the predictions of batched direct invocations, checking variant and count of each. */
export function servedAnswers(
  variant: string,
  exchanges: readonly VariantExchange[],
  batchSizes: readonly number[],
): ServedAnswers {
  const answers: ModelAnswer[] = [];
  for (const [i, exchange] of exchanges.entries()) {
    if (!exchange.ok) return { ok: false, error: `InvokeEndpoint on ${variant} failed: ${exchange.error}` };
    if (exchange.invokedVariant !== variant) {
      return {
        ok: false,
        error: `asked for ${variant}, answered by ${exchange.invokedVariant ?? 'no variant'}`,
      };
    }
    const predictions = (exchange.body as { predictions?: unknown } | null)?.predictions;
    if (!Array.isArray(predictions) || predictions.length !== batchSizes[i] || !predictions.every(isAnswer)) {
      return { ok: false, error: `${variant} did not answer one prediction per row (batch ${i + 1})` };
    }
    answers.push(...predictions);
  }
  return { ok: true, answers };
}

/** Why a served answer differs from the offline one beyond float tolerance; undefined when equal. */
export function answerDifference(served: ModelAnswer, offline: ModelAnswer): string | undefined {
  if ('value' in offline) {
    if (!('value' in served)) return 'a label where the offline evaluation has a value';
    const tolerance = VALUE_TOLERANCE * Math.max(1, Math.abs(offline.value));
    return Math.abs(served.value - offline.value) <= tolerance
      ? undefined
      : `value ${served.value}, offline ${offline.value}`;
  }
  if ('value' in served) return 'a value where the offline evaluation has a label';
  if (served.label !== offline.label) return `label ${served.label}, offline ${offline.label}`;
  const drift = offline.probabilities.reduce(
    (worst, p, k) => Math.max(worst, Math.abs((served.probabilities[k] ?? Number.NaN) - p)),
    served.probabilities.length === offline.probabilities.length ? 0 : Number.POSITIVE_INFINITY,
  );
  return drift <= PROBABILITY_TOLERANCE
    ? undefined
    : `probabilities [${served.probabilities.join(', ')}], offline [${offline.probabilities.join(', ')}]`;
}

/** Accuracy (classification) or MAE (regression) of answers on the rows. */
export function scoreAnswers(
  rows: readonly LabelledRow[],
  answers: readonly ModelAnswer[],
): { metric: 'accuracy' | 'mae'; value: number } {
  if (rows.length > 0 && 'value' in rows[0]) {
    const errors = rows.map((row, i) => {
      const answer = answers[i];
      return 'value' in row && 'value' in answer
        ? Math.abs(answer.value - row.value)
        : Number.POSITIVE_INFINITY;
    });
    return { metric: 'mae', value: errors.reduce((a, b) => a + b, 0) / rows.length };
  }
  const right = rows.filter((row, i) => {
    const answer = answers[i];
    return 'label' in row && answer !== undefined && 'label' in answer && answer.label === row.label;
  }).length;
  return { metric: 'accuracy', value: right / rows.length };
}

const describe = (score: { metric: 'accuracy' | 'mae'; value: number }) =>
  score.metric === 'accuracy'
    ? `accuracy ${(score.value * 100).toFixed(2)} %`
    : `MAE ${score.value.toPrecision(4)}`;

/** A variant served, for every truth row, the answer its version gave offline. */
export function checkServedMatchesOffline(
  variant: string,
  version: string,
  served: ServedAnswers,
  truth: TruthSet,
): Verdict {
  if (!served.ok) return { ok: false, detail: served.error };
  const offline = truth.offline[version];
  if (!offline) return { ok: false, detail: `no offline answers for ${version}` };
  const differences = truth.rows.flatMap((row, i) => {
    const difference = answerDifference(served.answers[i], offline[i]);
    return difference === undefined ? [] : [`row ${i + 1} [${row.features.join(', ')}]: ${difference}`];
  });
  const score = describe(scoreAnswers(truth.rows, served.answers));
  if (differences.length === 0) {
    return {
      ok: true,
      detail: `${variant} (${version}) served the offline answer on all ${truth.rows.length} labelled rows; ${score}`,
    };
  }
  return {
    ok: false,
    detail:
      `${variant} (${version}) differs from the offline evaluation on ${differences.length}/${truth.rows.length} rows ` +
      `(the container does not reproduce what was evaluated): ${differences.slice(0, 3).join('; ')}${differences.length > 3 ? '; …' : ''}`,
  };
}

/**
 * The candidate's served answers are not shown worse than the baseline's by more than the margin:
 * the offline evaluation's paired one-sided test (docs/QUALITY.md) on what the endpoint served, so a
 * handful of rows cannot fail a candidate on noise and a defect that the rows do show always fails.
 */
export function checkCandidateAccuracy(
  baseline: { readonly version: string; readonly served: ServedAnswers },
  candidate: { readonly version: string; readonly served: ServedAnswers },
  truth: TruthSet,
): Verdict {
  if (!baseline.served.ok || !candidate.served.ok) {
    return {
      ok: false,
      detail: `cannot compare: ${[baseline.served, candidate.served].flatMap((s) => (s.ok ? [] : [s.error])).join('; ')}`,
    };
  }
  const margin = { ...DEFAULT_QUALITY_MARGIN, ...truth.margin };
  const b = baseline.served.answers;
  const c = candidate.served.answers;
  const regression = truth.rows.length > 0 && 'value' in truth.rows[0];
  let comparison: QualityComparison;
  try {
    comparison = regression
      ? compareMae(
          truth.rows.map((row) => ('value' in row ? row.value : Number.NaN)),
          b.map(asValue),
          c.map(asValue),
          margin.relativeMae,
        )
      : compareAccuracy(
          truth.rows.map((row) => ('label' in row ? row.label : '')),
          b.map(asClass),
          c.map(asClass),
          margin.accuracy,
        );
  } catch (error) {
    return { ok: false, detail: `cannot compare: ${(error as Error).message}` };
  }
  const show = (v: number) => (regression ? `MAE ${v.toPrecision(4)}` : `accuracy ${(v * 100).toFixed(2)} %`);
  const diff = (v: number) => (regression ? v.toPrecision(3) : `${(v * 100).toFixed(2)} pt`);
  const interval = comparison.interval
    ? ` (90 % CI ${diff(comparison.interval.lower)} to ${diff(comparison.interval.upper)})`
    : '';
  const limit = regression
    ? `${(margin.relativeMae * 100).toFixed(1)} % of MAE`
    : `${(margin.accuracy * 100).toFixed(2)} points`;
  const detail =
    `candidate ${candidate.version} ${show(comparison.candidate)}, baseline ${baseline.version} ${show(comparison.baseline)} ` +
    `on ${truth.rows.length} labelled rows, difference ${diff(comparison.difference)}${interval}, margin ${limit}`;
  if (comparison.outcome === 'fail')
    return { ok: false, detail: `${detail}: the candidate is shown worse by more than the margin` };
  return {
    ok: true,
    detail: `${detail}: ${comparison.outcome === 'non-inferior' ? 'non-inferiority shown' : 'not shown worse (too few rows to show non-inferiority)'}`,
  };
}

function asClass(answer: ModelAnswer): { label: string; probabilities: number[] } {
  if ('value' in answer) throw new Error('a value where a label was expected');
  return answer;
}

function asValue(answer: ModelAnswer): { value: number } {
  if (!('value' in answer)) throw new Error('a label where a value was expected');
  return answer;
}
