/**
 * Evidence family: prediction quality. A model can fail silently (200 OK, normal latency, wrong
 * answers: a label-encoding bug, features read in another order), so the judge also compares what
 * the variants answer.
 *
 * ## Accuracy on labelled traffic
 * The traffic source replays labelled rows and counts, per minute and variant, its labelled answers
 * and the correct ones. Rows are drawn at random and each request goes to a variant at random, so each
 * variant's wrong answers are Bernoulli draws with its own wrong-answer rate w_v. Each rate gets an
 * anytime-valid confidence sequence: Robbins' beta-binomial mixture (Jeffreys prior), the set of p
 * whose mixture likelihood ratio B(W + ½, L − W + ½) / B(½, ½) ÷ p^W (1 − p)^(L − W) is below 1/level
 * (Ville's inequality: P(ever excluding the true rate) ≤ level).
 * - **Rollback** when the canary's lower bound exceeds the baseline's upper bound by more than
 *   `accuracyMargin` (each bound at half the accuracy share of alpha): if both sequences cover, a
 *   canary worse by at most the margin can never be rolled back.
 * - **Hold**: a promotion waits while the data favour "the canary is worse by more than
 *   `accuracyMargin · 100 / w_next`" (the margin scaled by the exposure the promotion leads to, as the
 *   error family does) over "it is not" by more than e to 1: the log generalized likelihood ratio of
 *   the two binomials, unconstrained against constrained to w_B − w_A ≤ that margin, is at least
 *   HOLD_LOG_LIKELIHOOD_RATIO. A hold only ever waits, so it needs no level. A candidate a few points
 *   worse is thus held at a step until the rollback test has seen enough, instead of being promoted
 *   on too few labelled answers. Showing non-inferiority within one point would need about ten thousand
 *   labelled answers per variant, so promotion does not wait for it; the rollback test keeps watching.
 *
 * ## Prediction distribution on all traffic
 * The predict function counts, per minute and variant, the answers per predicted class (a label; for
 * regression a bin of the baseline's evaluation quantiles). Traffic is split at random, so equal
 * models predict alike; TV = ½ Σ_k |p_B,k − p_A,k| measures how far the candidate moved them. Each
 * class share of each variant gets a beta-binomial confidence sequence at level/(2K), so all 2K cover
 * at once with probability ≥ 1 − level.
 * - **Rollback** when some class's shares are shown apart by more than half the margin
 *   (DISTRIBUTION_ROLLBACK_FRACTION × `distributionMargin`): |Δ_k| ≤ TV, so this never happens to a
 *   candidate within that TV while the sequences cover. Equal models have TV 0; half the margin
 *   gives the test power at the margin itself (10 % of predictions moved is TV 0.1).
 * - **Promotion** (at the full alpha, intersection-union) needs the upper bound
 *   ½ Σ_k max(U_B,k − L_A,k, U_A,k − L_B,k) below `distributionMargin · 100 / w_next`; at the last
 *   promotion the margin itself. A candidate between half the margin and the margin may go either way.
 *
 * References: H. Robbins, "Statistical methods related to the law of the iterated logarithm", Ann.
 * Math. Stat. 41 (1970); S. Howard, A. Ramdas, J. McAuliffe, J. Sekhon, "Time-uniform, nonparametric,
 * nonasymptotic confidence sequences", Ann. Stat. 49 (2021).
 */
import {
  DEFAULT_ACCURACY_MARGIN,
  DEFAULT_DISTRIBUTION_MARGIN,
  nextStepWeight,
  type RolloutPolicy,
} from '../policy';
import { logGamma, round } from '../stats';
import { isCount, type UsablePeriod, type VariantPeriodMetrics } from './periods';

/** What the rollout judges quality on: the classes of `VariantPeriodMetrics.predicted`, in order. */
export interface QualityConfig {
  /** Labels (classification) or bin names (regression), as the predict function names them. */
  readonly classes: readonly string[];
}

/** The rollback test of the distribution guards this fraction of `distributionMargin`. */
export const DISTRIBUTION_ROLLBACK_FRACTION = 0.5;
/** Log likelihood ratio at which the accuracy holds promotions: odds of e to 1. */
const HOLD_LOG_LIKELIHOOD_RATIO = 1;

/** One variant's labelled answers and accuracy over the rollout. */
export interface VariantAccuracy {
  readonly labelled: number;
  readonly correct: number;
  /** correct ÷ labelled; null without labelled answers. */
  readonly accuracy: number | null;
}

/** One variant's answers per class over the rollout. */
export interface VariantDistribution {
  readonly answers: number;
  /** Share of answers per class, in the order of `classes`; null without answers. */
  readonly shares: readonly number[] | null;
}

/** The quality figures of a decision (in the handler's answer and the rollout record). */
export interface QualitySummary {
  readonly accuracy: {
    readonly baseline: VariantAccuracy;
    readonly canary: VariantAccuracy;
    /** Accuracy points (as a fraction) the rollback test allows the canary below the baseline. */
    readonly margin: number;
    /**
     * Anytime-valid bounds (at the rollback level) of baseline minus canary accuracy; the rollback test
     * fires when the lower one exceeds `margin`. Null until both variants have labelled answers.
     */
    readonly differenceLowerBound: number | null;
    readonly differenceUpperBound: number | null;
  };
  readonly distribution: {
    readonly classes: readonly string[];
    readonly baseline: VariantDistribution;
    readonly canary: VariantDistribution;
    /** TV the rollback test guards (half the margin). */
    readonly rollbackTv: number;
    /** TV this step's promotion must rule out. */
    readonly promoteTv: number;
  };
  /** Total variation between the variants' observed predicted-class distributions (null: no answers). */
  readonly tv: number | null;
  /** Anytime-valid upper bound of the TV at the promote level (1 without evidence). */
  readonly tvUpperBound: number;
}

/** What the quality family found at one decision. */
export interface QualityEvidence {
  readonly summary: QualitySummary;
  /** log(1/level) of each bound of the accuracy and of the distribution rollback tests. */
  readonly logThresholds: { readonly accuracyRollback: number; readonly distributionRollback: number };
  /** Why to roll back now, or null. */
  readonly rollback: string | null;
  /** The canary's accuracy leans below the step's margin: promotions wait. */
  readonly leans: boolean;
  /** What promotion still lacks from this family (empty: nothing). */
  readonly missing: readonly string[];
}

const LOG_BETA_HALF = 2 * logGamma(0.5) - logGamma(1);

/** log of the beta-binomial (Jeffreys) mixture likelihood ratio against rate p, for s of n. */
function logMixtureRatio(s: number, n: number, p: number): number {
  if ((p <= 0 && s > 0) || (p >= 1 && s < n)) return Infinity;
  const logBeta = logGamma(s + 0.5) + logGamma(n - s + 0.5) - logGamma(n + 1);
  const logLik = (s > 0 ? s * Math.log(p) : 0) + (n - s > 0 ? (n - s) * Math.log(1 - p) : 0);
  return logBeta - LOG_BETA_HALF - logLik;
}

/**
 * Anytime-valid confidence sequence of a Bernoulli rate from s of n at log threshold log(1/level):
 * the rates the beta-binomial mixture has not rejected. [0, 1] without data.
 */
export function rateBounds(s: number, n: number, logThreshold: number): { lower: number; upper: number } {
  if (n <= 0) return { lower: 0, upper: 1 };
  const hat = s / n;
  const search = (inside: number, outside: number) => {
    let a = inside;
    let b = outside;
    for (let i = 0; i < 40; i++) {
      const mid = (a + b) / 2;
      if (logMixtureRatio(s, n, mid) >= logThreshold) b = mid;
      else a = mid;
    }
    return b;
  };
  return {
    lower: logMixtureRatio(s, n, 0) >= logThreshold ? search(hat, 0) : 0,
    upper: logMixtureRatio(s, n, 1) >= logThreshold ? search(hat, 1) : 1,
  };
}

/** Binomial log-likelihood of s successes in n at rate p (without the constant). */
function logLikelihood(s: number, n: number, p: number): number {
  const q = Math.min(1 - 1e-12, Math.max(1e-12, p));
  return s * Math.log(q) + (n - s) * Math.log(1 - q);
}

/**
 * log of the generalized likelihood ratio of "w_B − w_A > margin" against "w_B − w_A ≤ margin" for
 * wA wrong of nA and wB wrong of nB: 0 when the observed rates are within the margin; otherwise the
 * unconstrained maximum over the maximum on the boundary w_B = w_A + margin (concave in w_A, so a
 * bisection on its derivative finds it).
 */
export function logExcessLikelihoodRatio(
  wA: number,
  nA: number,
  wB: number,
  nB: number,
  margin: number,
): number {
  if (nA <= 0 || nB <= 0 || wB / nB - wA / nA <= margin) return 0;
  const slope = (w: number) =>
    wA / w - (nA - wA) / (1 - w) + wB / (w + margin) - (nB - wB) / (1 - w - margin);
  let lo = 1e-12;
  let hi = 1 - margin - 1e-12;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (slope(mid) > 0) lo = mid;
    else hi = mid;
  }
  const w = (lo + hi) / 2;
  const free = logLikelihood(wA, nA, wA / nA) + logLikelihood(wB, nB, wB / nB);
  return free - (logLikelihood(wA, nA, w) + logLikelihood(wB, nB, w + margin));
}

function sum(values: readonly number[]): number {
  return values.reduce((total, v) => total + v, 0);
}

/** A variant's labelled and correct answers of one minute, or null when absent or not counts. */
function labelledCounts(m: VariantPeriodMetrics): { labelled: number; correct: number } | null {
  const labelled = m.labelled ?? 0;
  const correct = m.correct ?? 0;
  if (!isCount(labelled) || !isCount(correct) || correct > labelled) return null;
  if (labelled > 0 && (m.correct === undefined || m.correct === null)) return null;
  return { labelled, correct };
}

/**
 * A variant's answers per class of one minute, or null when they cannot be read as counts. The
 * predict function counts every class of the active model for each answer (0 or 1), so a minute with
 * answers has a datapoint for each: one missing among present ones is a lost datapoint, and reading
 * it as 0 would move the variant's distribution; the variant's minute is left out instead (each
 * variant's confidence sequences stand alone, so leaving a minute out keeps them valid). No
 * datapoint at all: no answers.
 */
function classCounts(m: VariantPeriodMetrics, k: number): number[] | null {
  if (m.predicted === undefined || m.predicted === null || m.predicted.every((c) => c === null)) {
    return new Array<number>(k).fill(0);
  }
  if (!Array.isArray(m.predicted) || m.predicted.length !== k) return null;
  return m.predicted.every(isCount) ? (m.predicted as number[]) : null;
}

/**
 * The quality family's tests over the rollout's periods at the current step: rollbacks at their
 * shares of alpha, the distribution's promote test at `policy.alpha`.
 */
export function judgeQuality(
  periods: readonly UsablePeriod[],
  config: QualityConfig,
  policy: RolloutPolicy,
  stepIndex: number,
  rollbackAlpha: { readonly accuracy: number; readonly distribution: number },
): QualityEvidence {
  const margin = policy.accuracyMargin ?? DEFAULT_ACCURACY_MARGIN;
  const tvMargin = policy.distributionMargin ?? DEFAULT_DISTRIBUTION_MARGIN;
  const exposure = 100 / nextStepWeight(policy, stepIndex);
  const k = config.classes.length;
  const acc = { A: { labelled: 0, correct: 0 }, B: { labelled: 0, correct: 0 } };
  const classes = { A: new Array<number>(k).fill(0), B: new Array<number>(k).fill(0) };
  // Each variant's minute counts for a measure when its counts of it are whole (the tests compare
  // two independent confidence sequences, so the variants need not share minutes).
  for (const p of periods) {
    for (const [role, metrics] of [
      ['A', p.baseline],
      ['B', p.canary],
    ] as const) {
      const labelled = labelledCounts(metrics);
      if (labelled) {
        acc[role].labelled += labelled.labelled;
        acc[role].correct += labelled.correct;
      }
      const counts = classCounts(metrics, k);
      if (counts) for (let i = 0; i < k; i++) classes[role][i] += counts[i];
    }
  }

  // Accuracy: bounds of each variant's wrong-answer rate.
  const wrongBounds = (v: { labelled: number; correct: number }, logThreshold: number) =>
    rateBounds(v.labelled - v.correct, v.labelled, logThreshold);
  const accuracyThreshold = Math.log(2 / rollbackAlpha.accuracy);
  const wrongA = wrongBounds(acc.A, accuracyThreshold);
  const wrongB = wrongBounds(acc.B, accuracyThreshold);
  const accuracyRollback = wrongB.lower - wrongA.upper > margin;
  const leans =
    margin * exposure < 1 &&
    logExcessLikelihoodRatio(
      acc.A.labelled - acc.A.correct,
      acc.A.labelled,
      acc.B.labelled - acc.B.correct,
      acc.B.labelled,
      margin * exposure,
    ) >= HOLD_LOG_LIKELIHOOD_RATIO;

  // Distribution: bounds of every class share of both variants.
  const nA = sum(classes.A);
  const nB = sum(classes.B);
  const boundsAt = (logThreshold: number) =>
    classes.A.map((sA, i) => ({
      a: rateBounds(sA, nA, logThreshold),
      b: rateBounds(classes.B[i], nB, logThreshold),
    }));
  const distributionThreshold = Math.log((2 * Math.max(k, 1)) / rollbackAlpha.distribution);
  const rollbackBounds = boundsAt(distributionThreshold);
  const apart = Math.max(
    0,
    ...rollbackBounds.map(({ a, b }) => Math.max(b.lower - a.upper, a.lower - b.upper)),
  );
  const rollbackTv = DISTRIBUTION_ROLLBACK_FRACTION * tvMargin;
  const promoteTv = Math.min(1, tvMargin * exposure);
  const tvUpperBound =
    k > 0
      ? Math.min(
          1,
          0.5 *
            sum(
              boundsAt(Math.log((2 * k) / policy.alpha)).map(({ a, b }) =>
                Math.max(0, b.upper - a.lower, a.upper - b.lower),
              ),
            ),
        )
      : 1;
  const sharesOf = (counts: number[], n: number) => (n > 0 ? counts.map((c) => round(c / n, 4)) : null);
  const tv =
    nA > 0 && nB > 0 ? 0.5 * sum(classes.A.map((c, i) => Math.abs(classes.B[i] / nB - c / nA))) : null;
  const accuracyOf = (v: { labelled: number; correct: number }): VariantAccuracy => ({
    ...v,
    accuracy: v.labelled > 0 ? round(v.correct / v.labelled, 4) : null,
  });
  const pct = (x: number | null) => (x === null ? 'n/a' : `${round(x * 100, 2)} %`);
  const summary: QualitySummary = {
    accuracy: {
      baseline: accuracyOf(acc.A),
      canary: accuracyOf(acc.B),
      margin,
      differenceLowerBound:
        acc.A.labelled > 0 && acc.B.labelled > 0 ? round(wrongB.lower - wrongA.upper, 4) : null,
      differenceUpperBound:
        acc.A.labelled > 0 && acc.B.labelled > 0 ? round(wrongB.upper - wrongA.lower, 4) : null,
    },
    distribution: {
      classes: config.classes,
      baseline: { answers: nA, shares: sharesOf(classes.A, nA) },
      canary: { answers: nB, shares: sharesOf(classes.B, nB) },
      rollbackTv,
      promoteTv: round(promoteTv, 4),
    },
    tv: tv === null ? null : round(tv, 4),
    tvUpperBound: round(tvUpperBound, 4),
  };

  let rollback: string | null = null;
  if (accuracyRollback) {
    rollback = `canary accuracy is significantly more than ${round(margin * 100, 2)} points below baseline (${pct(summary.accuracy.canary.accuracy)} of ${acc.B.labelled} labelled answers against ${pct(summary.accuracy.baseline.accuracy)} of ${acc.A.labelled})`;
  } else if (apart > rollbackTv) {
    rollback = `canary's predicted-class distribution differs significantly from baseline's by more than total variation ${rollbackTv} (observed ${summary.tv}, over ${nB} canary and ${nA} baseline answers)`;
  }
  const missing: string[] = [];
  if (leans) {
    missing.push(
      `canary accuracy leans more than ${round(margin * exposure * 100, 2)} points below baseline (${pct(summary.accuracy.canary.accuracy)} of ${acc.B.labelled} labelled answers against ${pct(summary.accuracy.baseline.accuracy)} of ${acc.A.labelled})`,
    );
  }
  if (tvUpperBound >= promoteTv) {
    missing.push(
      `prediction distribution shift ≥ total variation ${round(promoteTv, 3)} not yet ruled out (upper bound ${round(tvUpperBound, 3)})`,
    );
  }
  return {
    summary,
    logThresholds: { accuracyRollback: accuracyThreshold, distributionRollback: distributionThreshold },
    rollback,
    leans,
    missing,
  };
}
