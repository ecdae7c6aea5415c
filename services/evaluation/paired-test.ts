/**
 * The paired interval estimates behind `npm run evaluate` (docs/QUALITY.md states the tests and their
 * assumptions). Pure and dependency-free apart from log-gamma.
 */
import { logGamma } from '../rollout/stats';

/** One-sided significance of each decision (inferiority shown, non-inferiority shown). */
export const ALPHA = 0.05;

/** A two-sided (1 − 2α) interval: each bound is a one-sided (1 − α) bound. */
export interface Interval {
  readonly lower: number;
  readonly upper: number;
}

/** Standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile: p must be in (0, 1), got ${p}`);
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const tail = (q: number) =>
    (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
    ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) /
    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
  );
}

/** Continued fraction of the regularized incomplete beta function (modified Lentz). */
function betaFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  d = 1 / (Math.abs(d) < tiny ? tiny : d);
  let h = d;
  for (let m = 1; m <= 300; m++) {
    for (const numerator of [
      (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m)),
      -((a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1)),
    ]) {
      d = 1 + numerator * d;
      d = 1 / (Math.abs(d) < tiny ? tiny : d);
      c = 1 + numerator / c;
      if (Math.abs(c) < tiny) c = tiny;
      h *= d * c;
    }
    if (Math.abs(d * c - 1) < 1e-14) break;
  }
  return h;
}

/** Regularized incomplete beta I_x(a, b). */
function incompleteBeta(a: number, b: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2)
    ? (front * betaFraction(a, b, x)) / a
    : 1 - (front * betaFraction(b, a, 1 - x)) / b;
}

/** P(T ≤ t) for Student's t with `df` degrees of freedom. */
export function studentCdf(t: number, df: number): number {
  const tail = 0.5 * incompleteBeta(df / 2, 0.5, df / (df + t * t));
  return t >= 0 ? 1 - tail : tail;
}

/** Student's t quantile (bisection on the CDF; |error| < 1e-9). */
export function studentQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1) || !(df > 0)) throw new RangeError(`studentQuantile: bad p ${p} or df ${df}`);
  let lo = -1e3;
  let hi = 1e3;
  for (let i = 0; i < 100 && hi - lo > 1e-10; i++) {
    const mid = (lo + hi) / 2;
    if (studentCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Counts of a paired comparison of two classifiers on the same rows. */
export interface PairedCounts {
  /** Rows both classify right. */
  readonly bothRight: number;
  /** Rows only the baseline classifies right. */
  readonly baselineOnly: number;
  /** Rows only the candidate classifies right. */
  readonly candidateOnly: number;
  /** Rows both classify wrong. */
  readonly bothWrong: number;
}

/**
 * Interval for accuracy(candidate) − accuracy(baseline) on paired rows: Agresti and Min's (2005)
 * adjusted Wald interval, which adds one half to each of the four cells before the Wald interval for
 * matched proportions, so it stays informative when no row is discordant.
 */
export function pairedProportionInterval(counts: PairedCounts, alpha = ALPHA): Interval {
  const n = counts.bothRight + counts.baselineOnly + counts.candidateOnly + counts.bothWrong + 2;
  const onlyCandidate = (counts.candidateOnly + 0.5) / n;
  const onlyBaseline = (counts.baselineOnly + 0.5) / n;
  const difference = onlyCandidate - onlyBaseline;
  const se = Math.sqrt((onlyCandidate + onlyBaseline - difference * difference) / n);
  const z = normalQuantile(1 - alpha);
  return { lower: difference - z * se, upper: difference + z * se };
}

/**
 * Paired t interval for the mean of per-row differences; undefined with fewer than two rows. With
 * every difference equal the interval is that point (nothing varies between rows).
 */
export function pairedMeanInterval(differences: readonly number[], alpha = ALPHA): Interval | undefined {
  const n = differences.length;
  if (n < 2) return undefined;
  const mean = differences.reduce((a, b) => a + b, 0) / n;
  const variance = differences.reduce((sum, d) => sum + (d - mean) ** 2, 0) / (n - 1);
  const half = studentQuantile(1 - alpha, n - 1) * Math.sqrt(variance / n);
  return { lower: mean - half, upper: mean + half };
}
