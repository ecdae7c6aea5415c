/**
 * What the feedback quality job measures: per model version, how right its predictions were on the
 * ones users labelled (POST /predictions/{id}/feedback), with a one-sided bound so an alarm fires
 * only when the labelled predictions *show* the version below its offline evaluation (docs/QUALITY.md).
 */
import { ALPHA, normalQuantile, pairedMeanInterval } from '../evaluation/paired-test';

/** Metric names the job publishes (dimensions `Stage`, `ModelVersion`). */
export const QUALITY_METRICS = {
  count: 'LabelledPredictions',
  accuracy: 'LabelledAccuracy',
  /** One-sided (1 − α) upper confidence bound of the accuracy: the alarm watches it. */
  accuracyUpper: 'LabelledAccuracyUpperBound',
  mae: 'LabelledMae',
  /** One-sided (1 − α) lower confidence bound of the MAE: the alarm watches it. */
  maeLower: 'LabelledMaeLowerBound',
} as const;

/** A prediction and the truth its caller sent. */
export interface LabelledPrediction {
  readonly prediction: { readonly label: string } | { readonly value: number };
  readonly feedback: { readonly label: string } | { readonly value: number };
}

/** One version's figures over its labelled predictions. */
export type VersionQuality =
  | { readonly task: 'none'; readonly count: 0 }
  | {
      readonly task: 'classification';
      readonly count: number;
      readonly accuracy: number;
      readonly upper: number;
    }
  | { readonly task: 'regression'; readonly count: number; readonly mae: number; readonly lower?: number };

/** Wilson score upper bound of a proportion, one-sided at level 1 − α. */
export function wilsonUpper(successes: number, n: number, alpha = ALPHA): number {
  const z = normalQuantile(1 - alpha);
  const p = successes / n;
  const z2 = z * z;
  return Math.min(1, (p + z2 / (2 * n) + z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n));
}

/**
 * Accuracy and its upper bound (labels), or MAE and its lower bound (values), over the labelled
 * predictions; rows whose feedback does not match the prediction's kind are left out.
 */
export function versionQuality(rows: readonly LabelledPrediction[]): VersionQuality {
  const classes = rows.flatMap((row) =>
    'label' in row.prediction && 'label' in row.feedback ? [row.prediction.label === row.feedback.label] : [],
  );
  const errors = rows.flatMap((row) =>
    'value' in row.prediction && 'value' in row.feedback
      ? [Math.abs(row.prediction.value - row.feedback.value)]
      : [],
  );
  if (classes.length === 0 && errors.length === 0) return { task: 'none', count: 0 };
  if (classes.length >= errors.length) {
    const right = classes.filter(Boolean).length;
    return {
      task: 'classification',
      count: classes.length,
      accuracy: right / classes.length,
      upper: wilsonUpper(right, classes.length),
    };
  }
  const mae = errors.reduce((a, b) => a + b, 0) / errors.length;
  const interval = pairedMeanInterval(errors);
  return {
    task: 'regression',
    count: errors.length,
    mae,
    ...(interval ? { lower: Math.max(0, interval.lower) } : {}),
  };
}
