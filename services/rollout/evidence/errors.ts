/**
 * Evidence family: the 5xx error rate (SageMaker's `Invocation5XXErrors` ÷ `Invocations` per variant).
 *
 * ## Rollback: conditional-binomial mixture SPRT on θ = λ_B / λ_A, tempered by dispersion
 * Conditioning on a period's total errors E_t removes the unknown baseline rate:
 * e_B,t | E_t ~ Binomial(E_t, π_t(θ)), π_t(θ) = n_B,t·θ / (n_A,t + n_B,t·θ). H₀: θ ≤ 1.05 (a canary
 * no worse than the baseline, within 5 %), alternatives θ ∈ {1.5, 2, 3, 10}, most weight on doubling.
 * Each period's log-likelihood ratio is divided by its dispersion φ_t = (1 − π_t)·φ_B + π_t·φ_A (the
 * variance inflation of e_B,t − π_t·E_t when each variant's counts have Pearson dispersion φ_v,
 * estimated from its own per-minute counts, the baseline's including the hour before the rollout and
 * the canary's shrunk towards the CV² that hour shows): the quasi-likelihood version of the test,
 * which keeps the false-rollback budget when per-minute error rates vary beyond Poisson. With φ = 1 it
 * is the mixture SPRT and Ville's inequality bounds P(ever rolling back a canary no worse) by its share.
 *
 * ## Promotion: non-inferiority, shown by either of two tests (their alpha shares add up to alpha)
 * - the canary's rate below the step's bound B = L_A + max((ratio − 1)·L_A, increase) · 100 / w_next,
 *   L_A an anytime-valid lower bound of the baseline rate, the canary's rate bounded above by a
 *   binomial mixture e-process against B, both on dispersion-deflated counts n/φ, e/φ. A step exposes
 *   only w_next of the traffic, so before moving to w_next it must rule out an excess whose
 *   endpoint-wide cost equals the final margin; the last promotion rules out
 *   max(ratio × baseline, baseline + increase) itself. With zero errors on both sides L_A = 0 and the
 *   bound is increase·100/w_next: enough error-free canary traffic promotes.
 * - θ below θ₀ = 1 + (ratio − 1)·100 / w_next: the conditional-binomial e-process against θ ≥ θ₀,
 *   tempered by the canary's dispersion at the null rate. θ₀ × the baseline rate is never above the
 *   step's margin, and this test needs no bound of the baseline's rate: it is the faster one when the
 *   baseline's errors are many (a 2 % baseline at 1 req/s).
 * The alpha is split L_A ⅛, B ¾, ratio ⅛ (RATE_BOUND_SHARES) unless the baseline's error rate in the
 * hour BEFORE the rollout shows the ratio margin binding; then ratio ¾, B 3⁄16, L_A 1⁄16
 * (RATIO_SHARES). That choice sees no rollout data, so both tests keep their levels.
 * Promotion also waits while the rollback test's log-evidence is at least PROMOTION_HOLD_LOG_EVIDENCE.
 *
 * Dispersion estimates are plug-ins (not predictable), so the overdispersed guarantees are those of a
 * quasi-likelihood test, checked by the calibration test and `npm run bench:canary`, not a theorem.
 */
import { DEFAULT_ERROR_DISPERSION_PRIOR_CV2, nextStepWeight, type RolloutPolicy } from '../policy';
import { cv2OfDispersion, logSumExp, mixture, pearsonDispersion, round } from '../stats';
import { countsBefore, type BaselineMinute, type UsablePeriod } from './periods';

/** Request and error totals of one variant over the periods used. */
export interface VariantTotals {
  readonly invocations: number;
  readonly errors: number;
  readonly errorRate: number | null;
  /** Pearson dispersion of the per-minute error counts (1 = binomial noise). */
  readonly dispersion: number;
}

/** The error tests' figures, as every decision reports them. */
export interface ErrorTest {
  /** Pooled canary ÷ baseline error rate (null without errors on both sides to compare). */
  readonly estimatedRatio: number | null;
  /** Anytime-valid lower bound of the baseline's error rate. */
  readonly baselineRateLowerBound: number;
  /** Anytime-valid upper bound of the canary's error rate (1 without evidence). */
  readonly canaryRateUpperBound: number;
  /** The canary rate this step must be shown below (the non-inferiority bound). */
  readonly canaryRateBound: number;
  /** log of the rollback test's e-value (evidence the canary is worse). */
  readonly rollbackLogEvidence: number;
  /** log of the promote test's e-value (evidence the canary's rate is below the bound). */
  readonly promoteLogEvidence: number;
  /** Canary ÷ baseline error-rate ratio the ratio promote test must rule out at this step. */
  readonly ratioToRuleOut: number;
  /** log of the ratio promote test's e-value (evidence θ is below ratioToRuleOut). */
  readonly ratioPromoteLogEvidence: number;
  /**
   * The baseline's error rate in the hour before the rollout: null with fewer than 100 requests in
   * its minutes that are counts.
   */
  readonly baselineErrorRateBefore: number | null;
  /** How the promote alpha is split: `ratio` when that hour shows the ratio margin binding. */
  readonly promoteSplit: 'rate-bound' | 'ratio';
}

/** What the error family found at one decision. */
export interface ErrorEvidence {
  readonly baseline: VariantTotals;
  readonly canary: VariantTotals;
  readonly test: ErrorTest;
  /** log(1/level) of the rollback test, the bound promote test and the ratio promote test. */
  readonly logThresholds: {
    readonly rollback: number;
    readonly promote: number;
    readonly ratioPromote: number;
  };
  /** Why to roll back now, or null. */
  readonly rollback: string | null;
  /** The rollback test leans towards a regression (not yet significantly): promotions wait. */
  readonly leans: boolean;
  /** What promotion still lacks from this family (empty: nothing). */
  readonly missing: readonly string[];
}

/**
 * Shares of the error promote alpha: the bound test's baseline lower bound and canary upper bound, and
 * the ratio test. Either test may promote (each rejects a regression on its own), so the shares add up
 * to one.
 */
export interface PromoteShares {
  readonly baselineLowerBound: number;
  readonly canaryUpperBound: number;
  readonly ratioPromote: number;
}

/**
 * The split while the absolute margin (`increase`) binds: a baseline with few errors, where only the
 * bound test can show an error-free canary within the margin.
 */
export const RATE_BOUND_SHARES: PromoteShares = Object.freeze({
  baselineLowerBound: 0.125,
  canaryUpperBound: 0.75,
  ratioPromote: 0.125,
});

/**
 * The split when the hour before the rollout shows the ratio margin binding (baseline rate × (ratio − 1)
 * ≥ increase): both tests then rule out the same θ₀ × baseline, and the ratio test does it without
 * paying for a lower bound of the baseline's rate. A 2 % baseline at 1 req/s with CV-1 error bursts
 * ran into the deadline in 2–4 % of good rollouts under RATE_BOUND_SHARES, 0.3–1.0 % under these.
 */
export const RATIO_SHARES: PromoteShares = Object.freeze({
  baselineLowerBound: 0.0625,
  canaryUpperBound: 0.1875,
  ratioPromote: 0.75,
});

/** Fewest requests the hour before the rollout needs for its error rate to count. */
const MIN_REQUESTS_BEFORE = 100;

/**
 * The baseline's error rate over the hour before the rollout, or null when its minutes served fewer than
 * MIN_REQUESTS_BEFORE requests.
 */
function errorRateBefore(counts: readonly { n: number; e: number }[]): number | null {
  const n = counts.reduce((sum, c) => sum + c.n, 0);
  return n >= MIN_REQUESTS_BEFORE ? counts.reduce((sum, c) => sum + c.e, 0) / n : null;
}

/**
 * The error promote split of a rollout, from the baseline's rate in the hour before it (null: unknown,
 * so the split that can promote a zero-error canary).
 */
export function promoteShares(policy: RolloutPolicy, baselineErrorRateBefore?: number | null): PromoteShares {
  const { ratio, increase } = policy.errorRegression;
  const rate = baselineErrorRateBefore;
  return typeof rate === 'number' && Number.isFinite(rate) && rate * (ratio - 1) >= increase
    ? RATIO_SHARES
    : RATE_BOUND_SHARES;
}

/** Alternatives of the ratio promote test: fractions of the ratio to rule out (equal weights). */
const RATIO_PROMOTE_FRACTIONS: readonly number[] = [0.35, 0.5, 0.7];

/**
 * The rollback test's null is θ ≤ 1.05: a canary within 5 % of the baseline is not rolled back. The
 * 5 % absorbs what the quasi-likelihood tempering misses when per-minute error rates swing wildly on a
 * busy endpoint (a 2 % baseline at 100 req/s with CV-1 swings); 10 % cost a quarter of the power on
 * doubled error rates.
 */
const ROLLBACK_TOLERANCE = 1.05;
const ROLLBACK_RATIOS: readonly number[] = [1.5, 2, 3, 10];
const ROLLBACK_WEIGHTS: readonly number[] = [0.05, 0.6, 0.15, 0.2];
/**
 * A promotion waits while the error rollback test's log-evidence is at least this: the data favour a
 * regression by more than e to 1, though not yet significantly. A good canary's evidence falls away
 * within minutes, so waiting costs it little; a canary that is worse yet inside the non-inferiority
 * margin (a doubled 0.5 % rate against a margin of 1.5 %) is otherwise promoted before the rollback
 * test can finish, which let 25 % of them through at 10 req/s. 0 (any lean at all) held canaries of
 * a 0.1 % baseline at 1 req/s into the deadline: one canary error keeps the evidence just above 0.
 */
export const PROMOTION_HOLD_LOG_EVIDENCE = 1;
/**
 * The least CV² of per-minute error bursts the canary's dispersion prior allows for when the hour before
 * the rollout shows a steadier baseline: a candidate may fail in bursts production never had. Without
 * it, good canaries failing in CV-1 bursts of their own beside a steady baseline were rolled back in
 * 3.1–3.7 % of rollouts at 100 req/s; with it 1.0–1.6 %, and a 10× canary at 10 req/s is still rolled
 * back after ~247 canary requests instead of ~300 with the CV-1 prior.
 */
export const CANARY_PRIOR_MIN_CV2 = 0.25;

/** Alternatives of the canary-rate upper bound: fractions of the bound, weights. */
const UPPER_FRACTIONS: readonly number[] = [0, 0.25, 0.5, 0.75];
const UPPER_WEIGHTS: readonly number[] = [0.4, 0.2, 0.2, 0.2];
/** Alternatives of the baseline-rate lower bound: multiples of the bound. */
const LOWER_MULTIPLES: readonly number[] = [1.25, 1.5, 2, 4];

/**
 * Σ_t of each alternative's dispersion-tempered log-likelihood ratio against θ₀ in the conditional
 * binomial model: e_B,t | E_t ~ Binomial(E_t, n_B·θ / (n_A + n_B·θ)), each period's term divided by
 * φ_t = (1 − π₀)·φ_B + π₀·φ_A.
 */
function conditionalBinomialLogRatios(
  periods: readonly UsablePeriod[],
  theta0: number,
  thetas: readonly number[],
  dispersionA: number,
  dispersionB: number,
): number[] {
  const sums = thetas.map(() => 0);
  for (const p of periods) {
    if (p.nA <= 0 || p.nB <= 0 || p.eA + p.eB <= 0) continue;
    const pi0 = (p.nB * theta0) / (p.nA + p.nB * theta0);
    const phi = (1 - pi0) * dispersionB + pi0 * dispersionA;
    for (let k = 0; k < thetas.length; k++) {
      const pi = (p.nB * thetas[k]) / (p.nA + p.nB * thetas[k]);
      sums[k] += (p.eB * Math.log(pi / pi0) + p.eA * Math.log((1 - pi) / (1 - pi0))) / phi;
    }
  }
  return sums;
}

/** log of the rollback mixture Σ_k w_k Π_t L_t(θ_k)/L_t(θ₀) against H₀: θ ≤ ROLLBACK_TOLERANCE. */
function logRollbackErrorEvidence(
  periods: readonly UsablePeriod[],
  dispersionA: number,
  dispersionB: number,
): number {
  const sums = conditionalBinomialLogRatios(
    periods,
    ROLLBACK_TOLERANCE,
    ROLLBACK_RATIOS,
    dispersionA,
    dispersionB,
  );
  return logSumExp(sums.map((sum, k) => Math.log(ROLLBACK_WEIGHTS[k]) + sum));
}

/**
 * log of the mixture against H₀: θ ≥ θ₀ (the canary at least θ₀ × the baseline's rate), alternatives
 * θ₀ × RATIO_PROMOTE_FRACTIONS. Conditioning on each period's total errors removes the baseline's
 * unknown rate, so a high baseline rate costs no second bound; the caller passes the canary's
 * dispersion at the null rate when that is larger than its own.
 */
function logRatioPromoteEvidence(
  periods: readonly UsablePeriod[],
  theta0: number,
  dispersionA: number,
  dispersionB: number,
): number {
  const thetas = RATIO_PROMOTE_FRACTIONS.map((fraction) => theta0 * fraction);
  return mixture(conditionalBinomialLogRatios(periods, theta0, thetas, dispersionA, dispersionB));
}

/** log e-value against H₀: rate ≥ bound, from e errors in n requests (binomial mixture). */
function logBelowEvidence(e: number, n: number, bound: number): number {
  if (bound >= 1) return Infinity;
  if (n <= 0 || bound <= 0) return -Infinity;
  const terms = UPPER_FRACTIONS.map((c, k) => {
    const p1 = c * bound;
    if (p1 === 0 && e > 0) return -Infinity;
    const errorTerm = e > 0 ? e * Math.log(c) : 0;
    return Math.log(UPPER_WEIGHTS[k]) + errorTerm + (n - e) * Math.log((1 - p1) / (1 - bound));
  });
  return logSumExp(terms);
}

/** log e-value against H₀: rate ≤ bound (binomial mixture of higher rates). */
function logAboveEvidence(e: number, n: number, bound: number): number {
  if (n <= 0 || e <= 0) return -Infinity;
  const terms = LOWER_MULTIPLES.map((c) => {
    const p1 = c * bound;
    if (p1 >= 1) return -Infinity;
    return (
      Math.log(1 / LOWER_MULTIPLES.length) + e * Math.log(c) + (n - e) * Math.log((1 - p1) / (1 - bound))
    );
  });
  return logSumExp(terms);
}

/** Anytime-valid lower confidence bound of a rate: the largest bound the data still rejects. */
function rateLowerBound(e: number, n: number, logThreshold: number): number {
  if (n <= 0 || e <= 0) return 0;
  let lo = 0;
  let hi = Math.min(1, e / n);
  if (logAboveEvidence(e, n, hi * 1e-6) < logThreshold) return 0;
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (logAboveEvidence(e, n, mid) >= logThreshold) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** Anytime-valid upper confidence bound of a rate: the smallest bound the data rejects. */
function rateUpperBound(e: number, n: number, logThreshold: number): number {
  if (n <= 0) return 1;
  let lo = Math.min(1, e / n);
  let hi = 1;
  if (logBelowEvidence(e, n, 1 - 1e-9) < logThreshold) return 1;
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (logBelowEvidence(e, n, mid) >= logThreshold) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * The canary error rate a promotion from `stepIndex` must be shown below, given a lower bound of the
 * baseline's rate (the non-inferiority bound of the header). Exported for the docs and the benchmark.
 */
export function canaryRateBound(policy: RolloutPolicy, stepIndex: number, baselineRateLower: number): number {
  const { ratio, increase } = policy.errorRegression;
  const excess = Math.max((ratio - 1) * baselineRateLower, increase);
  return Math.min(1, baselineRateLower + (excess * 100) / nextStepWeight(policy, stepIndex));
}

/**
 * The error-rate ratio θ₀ = 1 + (ratio − 1) · 100 / w_next a promotion from `stepIndex` may rule out
 * instead of the rate bound: θ₀ × the baseline's rate is never above the step's margin, so θ < θ₀
 * alone shows the canary within it.
 */
export function errorRatioToRuleOut(policy: RolloutPolicy, stepIndex: number): number {
  return 1 + ((policy.errorRegression.ratio - 1) * 100) / nextStepWeight(policy, stepIndex);
}

const percent = (rate: number) => `${round(rate * 100, 3)} %`;

/**
 * The error family's tests over the rollout's periods (and the baseline's hour before it) at the
 * current step: rollback at `rollbackAlpha`, promotion at `policy.alpha`.
 */
export function judgeErrors(
  periods: readonly UsablePeriod[],
  hourBefore: readonly BaselineMinute[] | null | undefined,
  policy: RolloutPolicy,
  stepIndex: number,
  rollbackAlpha: number,
): ErrorEvidence {
  let nA = 0;
  let eA = 0;
  let nB = 0;
  let eB = 0;
  for (const p of periods) {
    nA += p.nA;
    eA += p.eA;
    nB += p.nB;
    eB += p.eB;
  }
  // The hour before the rollout is more of the baseline's minutes; the canary serves the same traffic,
  // so its dispersion prior starts from the CV² they show, at least CANARY_PRIOR_MIN_CV2 (without that
  // hour the policy's errorDispersionPriorCv2, a CV-1 world by default), and its own minutes take over.
  const before = countsBefore(hourBefore);
  const countsA = [...before, ...periods.map((p) => ({ n: p.nA, e: p.eA }))];
  const countsB = periods.map((p) => ({ n: p.nB, e: p.eB }));
  const dispersionA = pearsonDispersion(countsA);
  const cv2A = cv2OfDispersion(dispersionA, countsA);
  const dispersionB = pearsonDispersion(
    countsB,
    undefined,
    before.length > 0 && cv2A !== null
      ? Math.max(CANARY_PRIOR_MIN_CV2, cv2A)
      : (policy.errorDispersionPriorCv2 ?? DEFAULT_ERROR_DISPERSION_PRIOR_CV2),
  );
  const rateBefore = errorRateBefore(before);
  const shares = promoteShares(policy, rateBefore);
  const logThresholds = {
    rollback: Math.log(1 / rollbackAlpha),
    promote: Math.log(1 / (shares.canaryUpperBound * policy.alpha)),
    ratioPromote: Math.log(1 / (shares.ratioPromote * policy.alpha)),
  };
  const rollbackErrors = logRollbackErrorEvidence(periods, dispersionA, dispersionB);
  const baselineLower = rateLowerBound(
    eA / dispersionA,
    nA / dispersionA,
    Math.log(1 / (shares.baselineLowerBound * policy.alpha)),
  );
  const bound = canaryRateBound(policy, stepIndex, baselineLower);
  const promoteErrors = logBelowEvidence(eB / dispersionB, nB / dispersionB, bound);
  const canaryUpper = rateUpperBound(eB / dispersionB, nB / dispersionB, logThresholds.promote);
  const ratioToRuleOut = errorRatioToRuleOut(policy, stepIndex);
  // The canary's dispersion at the null rate (θ₀ × the baseline's), estimated as 1 + CV² × errors a
  // minute with the larger of the two variants' CV², when that exceeds its own.
  const minutesB = periods.filter((p) => p.nB > 0).length;
  const cv2 = Math.max(cv2A ?? 0, cv2OfDispersion(dispersionB, countsB) ?? 0);
  const nullDispersionB = minutesB > 0 && nA > 0 ? 1 + cv2 * ratioToRuleOut * (eA / nA) * (nB / minutesB) : 1;
  const ratioPromote = logRatioPromoteEvidence(
    periods,
    ratioToRuleOut,
    dispersionA,
    Math.max(dispersionB, nullDispersionB),
  );
  const shownBelow = promoteErrors >= logThresholds.promote || ratioPromote >= logThresholds.ratioPromote;
  const estimatedRatio = eA > 0 && nB > 0 ? round(eB / nB / (eA / nA), 4) : null;
  const leans = rollbackErrors >= PROMOTION_HOLD_LOG_EVIDENCE;
  const missing: string[] = [];
  if (leans) {
    missing.push(
      `canary 5xx rate leans towards a regression (rollback log-evidence ${round(rollbackErrors, 2)} ≥ ${PROMOTION_HOLD_LOG_EVIDENCE})`,
    );
  }
  if (!shownBelow) {
    missing.push(
      `canary 5xx rate not yet shown below ${percent(bound)} (upper bound ${percent(canaryUpper)} after ${nB} requests) nor below ${round(ratioToRuleOut, 2)}× baseline`,
    );
  }
  return {
    baseline: {
      invocations: nA,
      errors: eA,
      errorRate: nA > 0 ? eA / nA : null,
      dispersion: round(dispersionA),
    },
    canary: {
      invocations: nB,
      errors: eB,
      errorRate: nB > 0 ? eB / nB : null,
      dispersion: round(dispersionB),
    },
    test: {
      estimatedRatio,
      baselineRateLowerBound: round(baselineLower, 6),
      canaryRateUpperBound: round(canaryUpper, 6),
      canaryRateBound: round(bound, 6),
      rollbackLogEvidence: round(rollbackErrors),
      promoteLogEvidence: round(promoteErrors),
      ratioToRuleOut: round(ratioToRuleOut, 4),
      ratioPromoteLogEvidence: round(ratioPromote),
      baselineErrorRateBefore: rateBefore === null ? null : round(rateBefore, 6),
      promoteSplit: shares === RATIO_SHARES ? 'ratio' : 'rate-bound',
    },
    logThresholds,
    rollback:
      rollbackErrors >= logThresholds.rollback
        ? `canary 5xx rate is significantly higher than baseline (ratio ≈ ${estimatedRatio ?? '∞'})`
        : null,
    leans,
    missing,
  };
}
