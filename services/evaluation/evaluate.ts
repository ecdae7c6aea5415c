/**
 * Offline evaluation of a candidate model version against its baseline on the same labelled rows,
 * scored by the model server's own inference code (docs/QUALITY.md).
 */
import { ALPHA, type Interval, pairedMeanInterval, pairedProportionInterval } from './paired-test';
import { classificationMetrics, regressionMetrics } from '../model/evaluation-metrics';
import type { EvaluationMetrics } from '../model/metadata';
import type { ClassPrediction, Prediction, ValuePrediction } from '../model/model';
import type { LabelledRow } from './rows';

/** What a model answers for one row. */
export type ModelAnswer = Prediction;

/** The part of a loaded model (services/model/model.ts `LoadedModel`) evaluation uses. */
export interface ScoringModel {
  readonly metadata: {
    readonly version: string;
    /** Missing is read as classification (docs/CONTRACTS.md). */
    readonly task?: 'classification' | 'regression';
    readonly featureNames: readonly string[];
    readonly labels?: readonly string[];
  };
  predict(rows: readonly (readonly number[])[]): Promise<Prediction[]>;
}

/**
 * How much worse the candidate may be and still pass: accuracy points as a fraction (classification),
 * or a fraction of the baseline's MAE (regression).
 */
export interface QualityMargin {
  /** @default 0.01 (one accuracy point) */
  readonly accuracy?: number;
  /** @default 0.05 (the candidate's MAE may be up to 5 % above the baseline's) */
  readonly relativeMae?: number;
}

/** The margins when a stage sets none. */
export const DEFAULT_QUALITY_MARGIN: Required<QualityMargin> = { accuracy: 0.01, relativeMae: 0.05 };

/** Problems with a margin (empty when valid), each naming the field. */
export function qualityMarginProblems(margin: QualityMargin): string[] {
  const problems: string[] = [];
  if (margin.accuracy !== undefined && !(margin.accuracy >= 0 && margin.accuracy < 1)) {
    problems.push(
      `margin.accuracy: ${margin.accuracy} must be a fraction from 0 to below 1 (0.01 = one point)`,
    );
  }
  if (margin.relativeMae !== undefined && !(margin.relativeMae >= 0 && margin.relativeMae < 10)) {
    problems.push(
      `margin.relativeMae: ${margin.relativeMae} must be a fraction >= 0 (0.05 = 5 % above the baseline's MAE)`,
    );
  }
  return problems;
}

/**
 * `fail`: the rows show the candidate worse than the baseline by more than the margin;
 * `non-inferior`: the rows show it is not; `inconclusive`: too few rows to show either.
 */
export type QualityOutcome = 'fail' | 'non-inferior' | 'inconclusive';

/** The comparison the verdict rests on. */
export interface QualityComparison {
  /** Higher is better for accuracy, lower for MAE. */
  readonly metric: 'accuracy' | 'mae';
  readonly baseline: number;
  readonly candidate: number;
  /** candidate − baseline. */
  readonly difference: number;
  /** (1 − 2α) interval of the difference; absent when the rows cannot give one. */
  readonly interval?: Interval;
  /** The worst difference still acceptable (−margin for accuracy, +margin × baseline MAE for MAE). */
  readonly threshold: number;
  readonly outcome: QualityOutcome;
}

/** Everything `npm run evaluate` reports. */
export interface EvaluationReport {
  readonly baselineVersion: string;
  readonly candidateVersion: string;
  readonly task: 'classification' | 'regression';
  readonly rows: number;
  readonly alpha: number;
  readonly margin: Required<QualityMargin>;
  readonly strict: boolean;
  readonly metrics: {
    readonly baseline: EvaluationMetrics;
    readonly candidate: EvaluationMetrics;
  };
  readonly comparison: QualityComparison;
  /** False when the candidate must not deploy: outcome `fail`, or `inconclusive` under `strict`. */
  readonly passed: boolean;
  /** One sentence saying why. */
  readonly summary: string;
}

/** Thrown when the two versions cannot be compared on these rows; the message says what differs. */
export class EvaluationError extends Error {
  override readonly name = 'EvaluationError';
}

function classAnswers(model: ScoringModel, answers: readonly ModelAnswer[]): ClassPrediction[] {
  return answers.map((answer) => {
    if ('value' in answer) {
      throw new EvaluationError(
        `${model.metadata.version} answered a value; its metadata says classification`,
      );
    }
    return answer;
  });
}

function valueAnswers(model: ScoringModel, answers: readonly ModelAnswer[]): ValuePrediction[] {
  return answers.map((answer) => {
    if (!('value' in answer)) {
      throw new EvaluationError(`${model.metadata.version} answered a label; its metadata says regression`);
    }
    return answer;
  });
}

function outcomeOf(
  interval: Interval | undefined,
  threshold: number,
  higherIsBetter: boolean,
): QualityOutcome {
  if (!interval) return 'inconclusive';
  if (higherIsBetter ? interval.upper < threshold : interval.lower > threshold) return 'fail';
  if (higherIsBetter ? interval.lower > threshold : interval.upper < threshold) return 'non-inferior';
  return 'inconclusive';
}

/** Accuracy comparison: Agresti–Min interval of the paired difference against −margin. */
export function compareAccuracy(
  truth: readonly string[],
  baseline: readonly ClassPrediction[],
  candidate: readonly ClassPrediction[],
  margin: number,
): QualityComparison {
  const counts = { bothRight: 0, baselineOnly: 0, candidateOnly: 0, bothWrong: 0 };
  truth.forEach((label, i) => {
    const b = baseline[i].label === label;
    const c = candidate[i].label === label;
    if (b && c) counts.bothRight++;
    else if (b) counts.baselineOnly++;
    else if (c) counts.candidateOnly++;
    else counts.bothWrong++;
  });
  const n = truth.length;
  const baselineAccuracy = (counts.bothRight + counts.baselineOnly) / n;
  const candidateAccuracy = (counts.bothRight + counts.candidateOnly) / n;
  const interval = pairedProportionInterval(counts);
  return {
    metric: 'accuracy',
    baseline: baselineAccuracy,
    candidate: candidateAccuracy,
    difference: candidateAccuracy - baselineAccuracy,
    interval,
    threshold: -margin,
    outcome: outcomeOf(interval, -margin, true),
  };
}

/**
 * MAE comparison: the verdict is a paired t test of |e_c| − (1 + r)|e_b| against 0 (so the
 * baseline's own uncertainty counts); the reported interval is that of |e_c| − |e_b|.
 */
export function compareMae(
  truth: readonly number[],
  baseline: readonly ValuePrediction[],
  candidate: readonly ValuePrediction[],
  relativeMargin: number,
): QualityComparison {
  const baselineErrors = truth.map((t, i) => Math.abs(baseline[i].value - t));
  const candidateErrors = truth.map((t, i) => Math.abs(candidate[i].value - t));
  const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const baselineMae = mean(baselineErrors);
  const candidateMae = mean(candidateErrors);
  const excess = pairedMeanInterval(
    candidateErrors.map((e, i) => e - (1 + relativeMargin) * baselineErrors[i]),
  );
  return {
    metric: 'mae',
    baseline: baselineMae,
    candidate: candidateMae,
    difference: candidateMae - baselineMae,
    interval: pairedMeanInterval(candidateErrors.map((e, i) => e - baselineErrors[i])),
    threshold: relativeMargin * baselineMae,
    outcome: outcomeOf(excess, 0, false),
  };
}

function taskOf(model: ScoringModel): 'classification' | 'regression' {
  return model.metadata.task ?? 'classification';
}

function checkComparable(
  baseline: ScoringModel,
  candidate: ScoringModel,
  rows: readonly LabelledRow[],
): void {
  const b = baseline.metadata;
  const c = candidate.metadata;
  if (taskOf(baseline) !== taskOf(candidate)) {
    throw new EvaluationError(
      `${b.version} is ${taskOf(baseline)}, ${c.version} is ${taskOf(candidate)}: they cannot be compared`,
    );
  }
  if (b.featureNames.join('\n') !== c.featureNames.join('\n')) {
    throw new EvaluationError(
      `${b.version} reads features [${b.featureNames.join(', ')}], ${c.version} reads [${c.featureNames.join(', ')}]: ` +
        'a candidate must take the same request as its baseline',
    );
  }
  const labels = new Set(b.labels ?? []);
  if ((c.labels ?? []).length !== labels.size || (c.labels ?? []).some((label) => !labels.has(label))) {
    throw new EvaluationError(
      `${b.version} predicts [${(b.labels ?? []).join(', ')}], ${c.version} predicts [${(c.labels ?? []).join(', ')}]: ` +
        'the label sets must be equal',
    );
  }
  if (rows.length === 0) throw new EvaluationError('no labelled rows: both evaluation splits are empty');
  const classification = taskOf(baseline) === 'classification';
  rows.forEach((row, i) => {
    if (row.features.length !== b.featureNames.length) {
      throw new EvaluationError(
        `row ${i + 1} has ${row.features.length} features; the models take ${b.featureNames.length}`,
      );
    }
    if (classification ? !('label' in row) || !labels.has(row.label) : !('value' in row)) {
      throw new EvaluationError(
        `row ${i + 1} is not a ${classification ? `label among [${[...labels].join(', ')}]` : 'value'} row`,
      );
    }
  });
}

function summaryOf(comparison: QualityComparison, passed: boolean): string {
  const what = comparison.metric === 'accuracy' ? 'accuracy' : 'MAE';
  const limit =
    comparison.metric === 'accuracy'
      ? `${(-comparison.threshold * 100).toFixed(2)} points`
      : `${comparison.threshold.toPrecision(3)} (the margin times the baseline's MAE)`;
  switch (comparison.outcome) {
    case 'fail':
      return `FAIL: the candidate's ${what} is worse than the baseline's by more than ${limit} (one-sided α = ${ALPHA})`;
    case 'non-inferior':
      return `PASS: non-inferiority shown: the candidate's ${what} is not worse than the baseline's by more than ${limit}`;
    case 'inconclusive':
      return passed
        ? `PASS: not shown worse by more than ${limit}, but too few rows to show non-inferiority`
        : `FAIL (strict): too few rows to show that the candidate's ${what} is within ${limit} of the baseline's`;
  }
}

/** Inputs of {@link evaluatePair}. */
export interface EvaluatePairInput {
  readonly baseline: ScoringModel;
  readonly candidate: ScoringModel;
  /** The labelled rows both are scored on (the union of their evaluation splits). */
  readonly rows: readonly LabelledRow[];
  readonly margin?: QualityMargin;
  /** Require non-inferiority shown (an inconclusive result fails). @default false */
  readonly strict?: boolean;
}

/**
 * Scores both versions on the same rows and decides.
 * @throws EvaluationError when the versions or rows cannot be compared.
 */
export async function evaluatePair(input: EvaluatePairInput): Promise<EvaluationReport> {
  const { baseline, candidate, rows } = input;
  const margin = { ...DEFAULT_QUALITY_MARGIN, ...input.margin };
  const strict = input.strict ?? false;
  checkComparable(baseline, candidate, rows);
  const features = rows.map((row) => row.features);
  const [baselineAnswers, candidateAnswers] = await Promise.all([
    baseline.predict(features),
    candidate.predict(features),
  ]);
  let metrics: EvaluationReport['metrics'];
  let comparison: QualityComparison;
  if (taskOf(baseline) === 'classification') {
    const truth = rows.map((row) => ('label' in row ? row.label : ''));
    const b = classAnswers(baseline, baselineAnswers);
    const c = classAnswers(candidate, candidateAnswers);
    metrics = {
      baseline: classificationMetrics(b, truth, baseline.metadata.labels ?? []),
      candidate: classificationMetrics(c, truth, candidate.metadata.labels ?? []),
    };
    comparison = compareAccuracy(truth, b, c, margin.accuracy);
  } else {
    const truth = rows.map((row) => ('value' in row ? row.value : Number.NaN));
    const b = valueAnswers(baseline, baselineAnswers);
    const c = valueAnswers(candidate, candidateAnswers);
    metrics = { baseline: regressionMetrics(b, truth), candidate: regressionMetrics(c, truth) };
    comparison = compareMae(truth, b, c, margin.relativeMae);
  }
  const passed = comparison.outcome === 'non-inferior' || (comparison.outcome === 'inconclusive' && !strict);
  return {
    baselineVersion: baseline.metadata.version,
    candidateVersion: candidate.metadata.version,
    task: taskOf(baseline),
    rows: rows.length,
    alpha: ALPHA,
    margin,
    strict,
    metrics,
    comparison,
    passed,
    summary: summaryOf(comparison, passed),
  };
}
