/**
 * The prediction-quality metrics the rollout judge reads, named once for their publishers and their
 * reader: the traffic source counts its labelled answers per variant (`LabelledAnswers`,
 * `CorrectAnswers`, PutMetricData), the predict function counts every answer per variant and
 * predicted class (`PredictionsByClass`, EMF), both in the stage's metric namespace.
 */

/** Labelled answers per minute, dimensions EndpointName and VariantName (traffic source). */
export const LABELLED_ANSWERS_METRIC = 'LabelledAnswers';
/** Of those, answers equal to the row's label (traffic source). */
export const CORRECT_ANSWERS_METRIC = 'CorrectAnswers';
/**
 * Answers per predicted class, dimensions service (Powertools' default, `predict`), EndpointName,
 * VariantName and PredictedClass (predict function).
 */
export const PREDICTIONS_BY_CLASS_METRIC = 'PredictionsByClass';
/** The predict function's Powertools service name: a dimension of every metric it publishes. */
export const PREDICT_SERVICE = 'predict';

/** What the judge reads quality from: the namespace and the predicted classes, in order. */
export interface QualityMetricsSource {
  readonly namespace: string;
  readonly classes: readonly string[];
}

/**
 * The classes a rollout's distribution test compares: the baseline's labels, then any label only the
 * candidate has (a candidate that predicts a new class shows it as moved predictions).
 */
export function rolloutClasses(
  baselineLabels: readonly string[],
  candidateLabels: readonly string[],
): string[] {
  return [...new Set([...baselineLabels, ...candidateLabels])];
}
