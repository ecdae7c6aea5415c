import type { EvaluationMetrics } from './metadata';
import type { ClassPrediction, ValuePrediction } from './model';

/** Probabilities are clipped to this before the log, so one confident miss does not make log loss infinite. */
const LOG_LOSS_EPSILON = 1e-15;
const DIGITS = 6;

const round = (value: number) => Number(value.toFixed(DIGITS));

/**
 * Accuracy, log loss and per-class recall of a classifier's predictions against the true labels (same order).
 * A class with no true rows has no recall entry.
 */
export function classificationMetrics(
  predictions: readonly ClassPrediction[],
  truths: readonly string[],
  labels: readonly string[],
): EvaluationMetrics {
  if (predictions.length !== truths.length || truths.length === 0) {
    throw new Error(`${predictions.length} predictions for ${truths.length} true labels`);
  }
  let correct = 0;
  let logLoss = 0;
  const hits = new Map<string, { rows: number; right: number }>();
  predictions.forEach((prediction, i) => {
    const truth = truths[i];
    const index = labels.indexOf(truth);
    if (index < 0) throw new Error(`true label "${truth}" is not one of ${labels.join(', ')}`);
    const right = prediction.label === truth;
    correct += right ? 1 : 0;
    logLoss -= Math.log(Math.max(prediction.probabilities[index], LOG_LOSS_EPSILON));
    const count = hits.get(truth) ?? { rows: 0, right: 0 };
    hits.set(truth, { rows: count.rows + 1, right: count.right + (right ? 1 : 0) });
  });
  return {
    accuracy: round(correct / truths.length),
    logLoss: round(logLoss / truths.length),
    perClassRecall: Object.fromEntries(
      labels.flatMap((label) => {
        const count = hits.get(label);
        return count ? [[label, round(count.right / count.rows)]] : [];
      }),
    ),
  };
}

/** Mean absolute error and root mean squared error of a regressor's predictions against the true values. */
export function regressionMetrics(
  predictions: readonly ValuePrediction[],
  truths: readonly number[],
): EvaluationMetrics {
  if (predictions.length !== truths.length || truths.length === 0) {
    throw new Error(`${predictions.length} predictions for ${truths.length} true values`);
  }
  const errors = predictions.map((p, i) => p.value - truths[i]);
  return {
    mae: round(errors.reduce((sum, e) => sum + Math.abs(e), 0) / errors.length),
    rmse: round(Math.sqrt(errors.reduce((sum, e) => sum + e * e, 0) / errors.length)),
  };
}
