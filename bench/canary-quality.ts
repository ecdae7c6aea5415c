/**
 * The canary benchmark's prediction quality: what each variant answers, as the traffic source and the
 * predict function count it. Every synthetic request is a labelled row (the request set carries its
 * labels); each answer is right with the variant's accuracy; the predicted classes of all answers
 * follow the variant's distribution over three balanced classes (Iris-like), the canary's moved by
 * `labelShift` (that share of its predictions moved from one class to another, each moved answer
 * wrong). A label-shifted candidate (labels permuted) keeps the distribution and loses the accuracy.
 */
import type { QualityConfig, VariantPeriodMetrics } from '../services/rollout/judge';
import { binomial } from './canary-sim';

/** The classes the benchmark's models predict, balanced. */
export const QUALITY_CLASSES: QualityConfig = Object.freeze({ classes: ['a', 'b', 'c'] });

/** Baseline accuracy on labelled rows unless the world says otherwise. */
export const DEFAULT_BASELINE_ACCURACY = 0.98;

/** Accuracy of the label-shifted candidate of issue 22 (labels shifted by one class: 0.7 % right). */
export const LABEL_SHIFTED_ACCURACY = 0.007;

/** How a canary's answers differ from the baseline's (both default 0: equally good). */
export interface QualityShift {
  /** Accuracy points lost on labelled rows, as a fraction (0.05 = five points); distribution kept. */
  readonly accuracyDrop?: number;
  /** Share of predictions moved from one class to another (the TV between the distributions). */
  readonly labelShift?: number;
}

/** The scenarios of issue 22's Done-when, for the standard table. */
export function qualityScenarios(baselineAccuracy: number): { name: string; shift: QualityShift }[] {
  return [
    { name: 'label-shifted', shift: { accuracyDrop: baselineAccuracy - LABEL_SHIFTED_ACCURACY } },
    { name: 'accuracy-5pt', shift: { accuracyDrop: 0.05 } },
    { name: 'predictions-moved-10pct', shift: { labelShift: 0.1 } },
  ];
}

/** A variant's accuracy and predicted-class distribution. */
function answers(
  baselineAccuracy: number,
  shift: QualityShift | null,
): { accuracy: number; shares: number[] } {
  const moved = shift?.labelShift ?? 0;
  const k = QUALITY_CLASSES.classes.length;
  const shares = QUALITY_CLASSES.classes.map(() => 1 / k);
  shares[0] -= moved;
  shares[1] += moved;
  const accuracy = Math.max(0, (baselineAccuracy - (shift?.accuracyDrop ?? 0)) * (1 - moved));
  return { accuracy, shares };
}

/** Multinomial draw of n over `shares` (sequential binomials). */
function multinomial(n: number, shares: readonly number[], random: () => number): number[] {
  let left = n;
  let rest = 1;
  return shares.map((p, i) => {
    const count =
      i === shares.length - 1 ? left : binomial(left, rest > 0 ? Math.min(1, p / rest) : 0, random);
    left -= count;
    rest -= p;
    return count;
  });
}

/**
 * One variant's quality counts for one minute: `labelled` of its `served` answers were to labelled
 * synthetic rows; `predicted` counts every answer by class.
 */
export function qualityMinute(
  served: number,
  labelled: number,
  baselineAccuracy: number,
  shift: QualityShift | null,
  random: () => number,
): Pick<VariantPeriodMetrics, 'labelled' | 'correct' | 'predicted'> {
  if (served <= 0) return { labelled: null, correct: null, predicted: null };
  const { accuracy, shares } = answers(baselineAccuracy, shift);
  const n = Math.min(served, labelled);
  return {
    labelled: n > 0 ? n : null,
    correct: n > 0 ? binomial(n, accuracy, random) : null,
    predicted: multinomial(served, shares, random),
  };
}
