/**
 * The canary judge: compares VariantB (canary) with VariantA (baseline) on the per-minute metrics
 * CloudWatch publishes and answers promote, rollback or wait.
 *
 * Pure and deterministic (no clock, no I/O), so the handler, the unit tests and the benchmark all
 * exercise the same decision.
 *
 * ## Which minutes count
 * A one-minute period is used only once `policy.publicationLagMinutes` have passed since it closed
 * (CloudWatch publishes SageMaker's per-minute metrics 1–3 minutes late and meanwhile shows a partly
 * aggregated datapoint), and only when its figures are consistent: counts are whole and non-negative,
 * errors ≤ invocations, errors present whenever requests were served, and the latency sample count
 * agrees with the invocations (between invocations − errors and invocations). A period that fails only
 * the sample-count check is "incomplete" and is read again on the next call.
 *
 * ## Latency is judged on requests above fixed thresholds
 * The rollout's thresholds derive from a baseline reference (`latencyReference`: its p50 and p99 over
 * the hour before the rollout, or its first complete rollout minute, then only later minutes count).
 * For a comparison at ratio ρ, CloudWatch's `PR(:v)` counts, per minute and variant, the requests at
 * or below the baseline's threshold (its reference percentile) and the canary's (ρ × that). A canary
 * exactly ρ × the baseline at that percentile level has the same share of requests above its
 * threshold as the baseline above its own, whatever the latency distribution looks like elsewhere
 * (lognormal of any σ, a stretched tail, any split): the test compares two binomial shares, s_A of n_A
 * and s_B of n_B, per minute. Its e-value (Turner, Ly and Grünwald's for two-sample Bernoulli data)
 * Bin(s_A; a)·Bin(s_B; b) ÷ Bin(s_A; p̄)·Bin(s_B; p̄), p̄ = (n_A·a + n_B·b) / (n_A + n_B), has
 * expectation ≤ 1 for every common share (Jensen), and ≤ 1 on the whole one-sided null (each factor
 * is monotone in its own share); a is the baseline's share estimated from EARLIER minutes and
 * b = a tilted by an odds ratio, mixed over a few odds ratios. Every request adds evidence, unlike one
 * percentile comparison a minute.
 *
 * ## Rollback (anytime-valid, union of three tests, alpha split ½ / ¼ / ¼)
 * 1. **Error rate, conditional-binomial mixture SPRT on θ = λ_B / λ_A, tempered by dispersion.**
 *    Conditioning on a period's total errors E_t removes the unknown baseline rate:
 *    e_B,t | E_t ~ Binomial(E_t, π_t(θ)), π_t(θ) = n_B,t·θ / (n_A,t + n_B,t·θ). H₀: θ ≤ 1.05 (a canary
 *    no worse than the baseline, within 5 %), alternatives θ ∈ {1.5, 2, 3, 10}, most weight on doubling. Each period's
 *    log-likelihood ratio is divided by its dispersion φ_t = (1 − π_t)·φ_B + π_t·φ_A (the variance
 *    inflation of e_B,t − π_t·E_t when each variant's counts have Pearson dispersion φ_v, estimated
 *    from its own per-minute counts, the baseline's including the hour before the rollout and the
 *    canary's shrunk towards the CV² that hour shows): the quasi-likelihood version of the test,
 *    which keeps the false-rollback budget when per-minute error rates vary beyond Poisson. With
 *    φ = 1 it is the mixture SPRT and Ville's inequality bounds P(ever rolling back a canary no worse)
 *    by its share.
 * 2. **p50 latency** above latencyRegressionRatio × baseline and 3. **p99 latency** above
 *    tailLatencyRegressionRatio × baseline: the threshold e-process with odds ratios > 1.
 *
 * ## Promotion (intersection-union: every test at level alpha)
 * Promotion needs every one of these nulls rejected; rejecting a union of nulls by rejecting each at
 * level alpha keeps P(promoting when any one holds) ≤ alpha, with no alpha split.
 * 1. **Errors, non-inferiority**, shown by either of two tests (their alpha shares add up to alpha):
 *    - the canary's rate below the step's bound B = L_A + max((ratio − 1)·L_A, increase) · 100 / w_next,
 *      L_A an anytime-valid lower bound of the baseline rate, the canary's rate bounded above by a
 *      binomial mixture e-process against B, both on dispersion-deflated counts n/φ,
 *      e/φ. A step exposes only w_next of the traffic, so before moving to w_next it must rule out an
 *      excess whose endpoint-wide cost equals the final margin; the last promotion rules out
 *      max(ratio × baseline, baseline + increase) itself. With zero errors on both sides L_A = 0 and the
 *      bound is increase·100/w_next: enough error-free canary traffic promotes.
 *    - θ below θ₀ = 1 + (ratio − 1)·100 / w_next: the conditional-binomial e-process
 *      against θ ≥ θ₀, tempered by the canary's dispersion at the null rate. θ₀ × the baseline rate is
 *      never above the step's margin, and this test needs no bound of the baseline's rate: it is the
 *      faster one when the baseline's errors are many (a 2 % baseline at 1 req/s).
 *    The alpha is split L_A ⅛, B ¾, ratio ⅛ (RATE_BOUND_SHARES) unless the baseline's error rate in the
 *    hour BEFORE the rollout shows the ratio margin binding; then ratio ¾, B 3⁄16, L_A 1⁄16
 *    (RATIO_SHARES). That choice sees no rollout data, so both tests keep their levels.
 * 2. **p50 latency** below ρ_step × baseline, ρ_step = 1 + (ρ − 1)·100 / w_next (same exposure
 *    argument): the threshold e-process with odds ratios < 1.
 * 3. **p99 latency** below tailLatencyMarginRatio × baseline (2 by default, above the rollback test's
 *    1.5: only ~1 % of requests tell about the p99), required for the last promotion only.
 * Every alarm must be OK, the step must have baked, and the error rollback test's log-evidence must be
 * below PROMOTION_HOLD_LOG_EVIDENCE (errors that lean towards a regression hold the promotion; the
 * rollback test stays valid however long it watches). Missing, invalid or too little data can only
 * ever lead to wait or, at the deadline, rollback.
 *
 * ## Low traffic
 * While the endpoint's requests a minute give the current step fewer than
 * `minCanaryRequestsPerMinute` canary requests, the judge moves on to the next step (never to 100 %)
 * instead of waiting hours for evidence: a 1 req/s endpoint is judged at the weight that sees requests,
 * with the absolute exposure a busier endpoint's first step has. Every test keeps pooling every minute.
 *
 * Dispersion estimates are plug-ins (not predictable), so the overdispersed guarantees are those of a
 * quasi-likelihood test, checked by the calibration test and `npm run bench:canary`, not a theorem.
 *
 * References: A. Wald, "Sequential tests of statistical hypotheses", Ann. Math. Stat. 16 (1945);
 * H. Robbins, "Statistical methods related to the law of the iterated logarithm", Ann. Math. Stat. 41
 * (1970); M. Lindon, C. Sanden, V. Shirikian, "Rapid regression detection in software deployments
 * through sequential testing", KDD 2022; S. Howard, A. Ramdas, J. McAuliffe, J. Sekhon, "Time-uniform,
 * nonparametric, nonasymptotic confidence sequences", Ann. Stat. 49 (2021); R. L. Berger,
 * "Multiparameter hypothesis testing and acceptance sampling", Technometrics 24 (1982) (intersection-
 * union tests); P. McCullagh, J. A. Nelder, "Generalized linear models" (1989), ch. 4.5 (dispersion);
 * R. Turner, A. Ly, P. Grünwald, "Generic E-variables for exact sequential k-sample tests that allow
 * for optional stopping" (2024).
 */
import {
  DEFAULT_MIN_CANARY_REQUESTS_PER_MINUTE,
  DEFAULT_PUBLICATION_LAG_MINUTES,
  DEFAULT_TAIL_LATENCY_MARGIN_RATIO,
  DEFAULT_TAIL_LATENCY_REGRESSION_RATIO,
  nextStepWeight,
  type RolloutPolicy,
  type Verdict,
} from './policy';
import { cv2OfDispersion, logSumExp, pearsonDispersion } from './stats';

/** One variant's CloudWatch figures for one period; `null`/absent means CloudWatch had no datapoint. */
export interface VariantPeriodMetrics {
  /** Sum of `Invocations`. */
  readonly invocations?: number | null;
  /** Sum of `Invocation5XXErrors`. */
  readonly errors?: number | null;
  /** p50 of `ModelLatency` (any unit, the same for both variants). */
  readonly p50?: number | null;
  /** p99 of `ModelLatency` (same unit as p50). */
  readonly p99?: number | null;
  /** SampleCount of `ModelLatency`: how many requests the percentiles describe. @default invocations */
  readonly latencySamples?: number | null;
  /** Average of `ModelLatency`. Not judged (averages of skewed latencies mislead); kept for old callers. */
  readonly latencyAvg?: number | null;
  /**
   * `ModelLatency` samples at or below each value of `latencyThresholds(policy, reference).values`, in
   * that order: CloudWatch's `PR(:v)` × SampleCount ÷ 100, rounded. A null entry: no datapoint.
   */
  readonly atOrBelow?: readonly (number | null)[] | null;
}

/**
 * The baseline latency from which a rollout's fixed latency thresholds derive (unit of p50/p99). The
 * handler reads it from the baseline variant's hour before the rollout, or, without traffic then, from
 * the first complete rollout minute; it must be the same on every call of one rollout.
 */
export interface LatencyReference {
  readonly p50: number;
  readonly p99: number;
  /** Start (epoch ms) of the period it was read from: the latency tests use only later periods. */
  readonly periodStart: number;
}

/** One latency comparison: the canary's share above `canary` against the baseline's above `baseline`. */
export interface LatencyComparison {
  readonly percentile: 'p50' | 'p99';
  /** Canary ÷ baseline latency at that percentile this comparison tests. */
  readonly ratio: number;
  /** Index into `values` of the canary's threshold (ratio × the reference percentile). */
  readonly canary: number;
  /** Index into `values` of the baseline's threshold (the reference percentile). */
  readonly baseline: number;
}

/** The fixed latency thresholds of one rollout and the comparisons the judge makes with them. */
export interface LatencyThresholds {
  /** Ascending, unique: what the handler asks CloudWatch for as `PR(:v)`, for both variants. */
  readonly values: readonly number[];
  readonly comparisons: readonly LatencyComparison[];
}

/** Both variants' figures for one CloudWatch period. */
export interface PeriodMetrics {
  /** Period start, epoch milliseconds. */
  readonly start: number;
  readonly baseline: VariantPeriodMetrics;
  readonly canary: VariantPeriodMetrics;
}

/** CloudWatch alarm states, plus MISSING for a configured alarm that DescribeAlarms did not return. */
export type AlarmStateValue = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA' | 'MISSING';

/** The state of one canary alarm when the evidence was gathered. */
export interface AlarmObservation {
  readonly name: string;
  readonly state: AlarmStateValue;
}

/** Everything the judge looks at. Times are epoch milliseconds. */
export interface Evidence {
  readonly alarms: readonly AlarmObservation[];
  readonly periods: readonly PeriodMetrics[];
  readonly periodSeconds: number;
  /** Index into `policy.steps` of the weights currently in service. */
  readonly stepIndex: number;
  /** When the current step's weights were in service. */
  readonly stepStartedAt: number;
  /** When the first canary weight was applied; earlier periods belong to another rollout. */
  readonly rolloutStartedAt: number;
  /** Where the latency thresholds come from; without it no latency evidence exists (and nothing promotes). */
  readonly latencyReference?: LatencyReference | null;
  /**
   * The baseline's minutes of the hour before the rollout (Invocations and Invocation5XXErrors sums);
   * absent or empty without one. Data from before the candidate served anyone: its error rate chooses
   * how the error promote alpha is split (`promoteShares`), and its minutes anchor both variants'
   * dispersion estimates, without touching any test's validity.
   */
  readonly baselineHourBefore?: readonly BaselineMinute[] | null;
}

/** One minute of the baseline before the rollout: its Invocations and Invocation5XXErrors sums. */
export interface BaselineMinute {
  readonly invocations: number;
  readonly errors: number;
}

/** Request and error totals of one variant over the periods used. */
export interface VariantTotals {
  readonly invocations: number;
  readonly errors: number;
  readonly errorRate: number | null;
  /** Pearson dispersion of the per-minute error counts (1 = binomial noise). */
  readonly dispersion: number;
}

/** One percentile's sequential comparison, on the requests above the rollout's fixed thresholds. */
export interface PercentileTest {
  /** Minutes with threshold counts on both sides (after the reference period). */
  readonly minutes: number;
  /** Share of the canary's requests above rollbackRatio × the reference percentile (null without minutes). */
  readonly canarySlowShare: number | null;
  /** Share of the baseline's requests above the reference percentile. */
  readonly baselineSlowShare: number | null;
  /** Median over minutes of canary ÷ baseline percentile (display only; null without minutes). */
  readonly medianRatio: number | null;
  /** Ratio the rollback test guards (null hypothesis: canary ≤ ratio × baseline). */
  readonly rollbackRatio: number;
  /** Ratio the promote test must rule out at this step. */
  readonly promoteRatio: number;
  readonly rollbackLogEvidence: number;
  readonly promoteLogEvidence: number;
  /** False when this percentile does not gate this promotion (p99 before the last step). */
  readonly requiredForPromotion: boolean;
}

/** What the judge saw and computed: logged with every decision and returned to the state machine. */
export interface EvidenceSummary {
  readonly stepIndex: number;
  readonly canaryWeight: number;
  readonly nextCanaryWeight: number;
  readonly minutesSinceStepStart: number;
  readonly minutesSinceRolloutStart: number;
  readonly alarmsInAlarm: readonly string[];
  readonly alarmsNotOk: readonly string[];
  readonly periodsUsed: number;
  readonly periodsDiscarded: number;
  /** Periods not used yet: younger than the publication lag, or with inconsistent sample counts. */
  readonly periodsIncomplete: number;
  readonly periodsWithCanaryTrafficThisStep: number;
  readonly baseline: VariantTotals;
  readonly canary: VariantTotals;
  readonly errorTest: {
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
  };
  readonly latencyTest: {
    readonly p50: PercentileTest;
    readonly p99: PercentileTest;
  };
  /** log(1/level) each log-evidence above must reach to count. */
  readonly logThresholds: {
    readonly errorRollback: number;
    readonly p50Rollback: number;
    readonly p99Rollback: number;
    readonly errorPromote: number;
    readonly errorRatioPromote: number;
    readonly latencyPromote: number;
  };
  readonly bakePassed: boolean;
  readonly deadlinePassed: boolean;
}

/** One variant's figures of the newest complete period used (milliseconds when the input was). */
export interface UsedVariantMinute {
  readonly invocations: number;
  readonly errors: number;
  readonly p50: number | null;
  readonly p99: number | null;
}

/** The newest complete period the judge used, for the decision record. */
export interface NewestPeriod {
  readonly start: number;
  readonly baseline: UsedVariantMinute;
  readonly canary: UsedVariantMinute;
}

/** The judge's answer: the verdict, a sentence for people, and the evidence behind it. */
export interface Judgement {
  readonly verdict: Verdict;
  readonly reason: string;
  readonly summary: EvidenceSummary;
  /** Newest complete period used; null when none was usable. */
  readonly newestPeriod: NewestPeriod | null;
}

/**
 * How the rollback alpha is split between the tests (Bonferroni). Errors get half because a broken
 * model shows up in 5xx first and every minute of it costs users. Promotion needs no split
 * (intersection-union), so every promote test runs at the full alpha.
 */
export const ALPHA_SHARES = Object.freeze({
  errorRollback: 0.5,
  p50Rollback: 0.25,
  p99Rollback: 0.25,
});

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

/** The hour-before minutes that are counts, by the rollout minutes' rule (`cleanVariant`), as n and e. */
function countsBefore(minutes: readonly BaselineMinute[] | null | undefined): { n: number; e: number }[] {
  return (minutes ?? []).flatMap((m) => {
    const counts = cleanVariant(m, 0);
    return counts ? [{ n: counts.n, e: counts.e }] : [];
  });
}

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
const PROMOTION_HOLD_LOG_EVIDENCE = 1;
/**
 * The least CV² of per-minute error bursts the canary's dispersion prior allows for when the hour before
 * the rollout shows a steadier baseline: a candidate may fail in bursts production never had. Without
 * it, good canaries failing in CV-1 bursts of their own beside a steady baseline were rolled back in
 * 3.1–3.7 % of rollouts at 100 req/s; with it 1.0–1.6 %, and a 10× canary at 10 req/s is still rolled
 * back after ~247 canary requests instead of ~300 with the CV-1 prior.
 */
const CANARY_PRIOR_MIN_CV2 = 0.25;
/** Alternatives of the canary-rate upper bound: fractions of the bound, weights. */
const UPPER_FRACTIONS: readonly number[] = [0, 0.25, 0.5, 0.75];
const UPPER_WEIGHTS: readonly number[] = [0.4, 0.2, 0.2, 0.2];
/** Alternatives of the baseline-rate lower bound: multiples of the bound. */
const LOWER_MULTIPLES: readonly number[] = [1.25, 1.5, 2, 4];
/**
 * Odds ratios (canary ÷ baseline odds of a request being slow) of the latency e-processes'
 * alternatives, equal weights. A 1.5× slower canary has odds ratio ≈ 1.4 at the p50 threshold for
 * σ = 1; a healthy canary at the last step ≈ 0.75, at the first (ratio 1.8) ≈ 0.4.
 */
const LATENCY_ROLLBACK_ODDS: readonly number[] = [1.25, 1.6, 2.5, 5];
const LATENCY_PROMOTE_ODDS: readonly number[] = [0.8, 0.6, 0.4, 0.2];
/**
 * Prior of the baseline's slow share before any minute is seen (pseudo-requests, share): only where the
 * alternatives are centred, so it moves power, never validity.
 */
const SLOW_SHARE_PRIOR = Object.freeze({ requests: 20, p50: 0.5, p99: 0.01 });
const MINUTE_MS = 60_000;

interface LatencyPoint {
  readonly samples: number;
  readonly p50: number | null;
  readonly p99: number | null;
  /** Samples at or below each threshold value; null when a count is missing or inconsistent. */
  readonly atOrBelow: readonly (number | null)[] | null;
}

interface UsablePeriod {
  readonly start: number;
  readonly nA: number;
  readonly eA: number;
  readonly nB: number;
  readonly eB: number;
  readonly latA: LatencyPoint | null;
  readonly latB: LatencyPoint | null;
}

interface CleanVariant {
  readonly n: number;
  readonly e: number;
  readonly lat: LatencyPoint | null;
  /** The latency sample count contradicts the invocations: not fully aggregated yet. */
  readonly incomplete: boolean;
}

function isCount(value: number | null | undefined): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 && Number.isInteger(value);
}

function isPositive(value: number | null | undefined): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0;
}

/**
 * Threshold counts a variant's minute can be judged on: one per threshold, whole, within the sample
 * count and non-decreasing with the threshold. Anything else is a partial or garbled datapoint, and the
 * minute then carries no latency evidence (its error counts still count).
 */
function cleanCounts(
  counts: readonly (number | null)[] | null | undefined,
  thresholdCount: number,
  samples: number,
): readonly (number | null)[] | null {
  if (thresholdCount === 0 || !Array.isArray(counts) || counts.length !== thresholdCount) return null;
  let previous = 0;
  for (const count of counts) {
    if (count === null) continue;
    if (!isCount(count) || count > samples || count < previous) return null;
    previous = count;
  }
  return counts;
}

/**
 * Missing invocations read as no traffic (CloudWatch omits datapoints of idle variants). Anything that
 * cannot be a per-period count (negative, fractional, NaN, errors above requests, errors missing while
 * requests were served) is what a counter reset or a partial datapoint looks like: the period is
 * dropped rather than read as error-free.
 */
function cleanVariant(metrics: VariantPeriodMetrics, thresholdCount: number): CleanVariant | undefined {
  const { invocations, errors, p50, p99, latencySamples } = metrics;
  if (invocations !== undefined && invocations !== null && !isCount(invocations)) return undefined;
  const n = invocations ?? 0;
  if (errors === undefined || errors === null) {
    if (n > 0) return undefined;
    return { n: 0, e: 0, lat: null, incomplete: false };
  }
  if (!isCount(errors) || errors > n) return undefined;
  const samples = latencySamples ?? n;
  const hasSamples = latencySamples !== undefined && latencySamples !== null;
  if (hasSamples && !isCount(latencySamples)) return undefined;
  // Every served request has a ModelLatency sample, except possibly those that failed with 5xx.
  const incomplete = hasSamples && n > 0 && (samples > n || samples < n - errors);
  const percentilesValid = isPositive(p50) && isPositive(p99) && p99 >= p50;
  const lat =
    n > 0 && samples > 0
      ? {
          samples,
          p50: percentilesValid ? p50 : null,
          p99: percentilesValid ? p99 : null,
          atOrBelow: cleanCounts(metrics.atOrBelow, thresholdCount, samples),
        }
      : null;
  return { n, e: errors, lat, incomplete };
}

interface Periods {
  readonly periods: UsablePeriod[];
  readonly discarded: number;
  readonly incomplete: number;
}

function usablePeriods(evidence: Evidence, now: number, lagMinutes: number, thresholdCount: number): Periods {
  const periodMs = evidence.periodSeconds * 1000;
  // Group by start; CloudWatch answers sorted and unique, so the common case is one pass.
  const counts = new Map<number, number>();
  for (const period of evidence.periods) counts.set(period.start, (counts.get(period.start) ?? 0) + 1);
  const unique = evidence.periods.filter((p) => counts.get(p.start) === 1).sort((a, b) => a.start - b.start);
  let discarded = evidence.periods.length - unique.length;
  const periods: UsablePeriod[] = [];
  let incomplete = 0;
  for (const only of unique) {
    const { start } = only;
    if (!Number.isFinite(start) || start < evidence.rolloutStartedAt) {
      discarded += 1;
      continue;
    }
    if (start + periodMs + lagMinutes * MINUTE_MS > now) {
      incomplete += 1;
      continue;
    }
    const a = cleanVariant(only.baseline, thresholdCount);
    const b = cleanVariant(only.canary, thresholdCount);
    if (!a || !b) {
      discarded += 1;
      continue;
    }
    if (a.incomplete || b.incomplete) {
      incomplete += 1;
      continue;
    }
    periods.push({ start, nA: a.n, eA: a.e, nB: b.n, eB: b.e, latA: a.lat, latB: b.lat });
  }
  return { periods, discarded, incomplete };
}

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

/** A Bernoulli probability with the odds of `p` multiplied by `odds`. */
function tilt(p: number, odds: number): number {
  return (odds * p) / (1 - p + odds * p);
}

/** p·log(p/q) style term that is 0 when the count is 0 (so p = 0 or 1 never yields NaN). */
function xlog(count: number, ratio: number): number {
  return count === 0 ? 0 : count * Math.log(ratio);
}

/**
 * One minute's e-value of the two-sample Bernoulli test (R. Turner, A. Ly, P. Grünwald, 2024; see
 * the header):
 * Bin(sA; nA, a)·Bin(sB; nB, b) ÷ Bin(sA; nA, p̄)·Bin(sB; nB, p̄) with p̄ = (nA·a + nB·b) / (nA + nB).
 * Its expectation is ≤ 1 for every common slow share p (Jensen on log), whatever p is, so it needs no
 * estimate of the nuisance; and ≤ 1 on the whole one-sided null (canary's share ≤ baseline's when
 * b > a, ≥ when b < a), because each factor is monotone in its own share.
 */
function twoSampleLogE(sA: number, nA: number, sB: number, nB: number, a: number, b: number): number {
  const bar = (nA * a + nB * b) / (nA + nB);
  return (
    xlog(sA, a / bar) +
    xlog(nA - sA, (1 - a) / (1 - bar)) +
    xlog(sB, b / bar) +
    xlog(nB - sB, (1 - b) / (1 - bar))
  );
}

function mixture(sums: readonly number[]): number {
  return logSumExp(sums.map((sum) => sum - Math.log(sums.length)));
}

/** A minute's slow counts for one comparison: requests above the canary's and the baseline's threshold. */
interface SlowCounts {
  readonly nA: number;
  readonly sA: number;
  readonly nB: number;
  readonly sB: number;
}

function slowCounts(p: UsablePeriod, comparison: LatencyComparison): SlowCounts | null {
  const belowA = p.latA?.atOrBelow?.[comparison.baseline];
  const belowB = p.latB?.atOrBelow?.[comparison.canary];
  if (
    !p.latA ||
    !p.latB ||
    belowA === null ||
    belowA === undefined ||
    belowB === null ||
    belowB === undefined
  ) {
    return null;
  }
  return { nA: p.latA.samples, sA: p.latA.samples - belowA, nB: p.latB.samples, sB: p.latB.samples - belowB };
}

/**
 * Sequential test of the canary's slow share against the baseline's for one comparison, over the
 * minutes after the reference period: Σ_k w_k Π_t E_t(a_t, tilt(a_t, odds_k)), where a_t is the
 * baseline's slow share estimated from the minutes BEFORE t (predictable, so the product stays a test
 * supermartingale) and odds_k the alternatives. Returns the log of that mixture and the pooled counts.
 */
function slowShareEvidence(
  minutes: readonly SlowCounts[],
  odds: readonly number[],
  priorShare: number,
): number {
  const sums = odds.map(() => 0);
  let seenA = SLOW_SHARE_PRIOR.requests * priorShare;
  let seenN = SLOW_SHARE_PRIOR.requests;
  for (const m of minutes) {
    const a = Math.min(1 - 1e-6, Math.max(1e-6, seenA / seenN));
    for (let k = 0; k < odds.length; k++) {
      sums[k] += twoSampleLogE(m.sA, m.nA, m.sB, m.nB, a, tilt(a, odds[k]));
    }
    seenA += m.sA;
    seenN += m.nA;
  }
  return mixture(sums);
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = values.sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function percentileTest(
  periods: readonly UsablePeriod[],
  percentile: 'p50' | 'p99',
  rollback: LatencyComparison | undefined,
  promote: LatencyComparison | undefined,
  requiredForPromotion: boolean,
): PercentileTest {
  const priorShare = SLOW_SHARE_PRIOR[percentile];
  const rollbackMinutes: SlowCounts[] = [];
  const promoteMinutes: SlowCounts[] = [];
  const ratios: number[] = [];
  for (const p of periods) {
    const r = rollback && slowCounts(p, rollback);
    if (r) rollbackMinutes.push(r);
    const q = promote && slowCounts(p, promote);
    if (q) promoteMinutes.push(q);
    const a = p.latA?.[percentile];
    const b = p.latB?.[percentile];
    if (a && b) ratios.push(b / a);
  }
  const share = (slow: number, n: number) => (n > 0 ? round(slow / n, 4) : null);
  const total = (pick: (m: SlowCounts) => number) => rollbackMinutes.reduce((sum, m) => sum + pick(m), 0);
  const medianRatio = median(ratios);
  return {
    minutes: rollbackMinutes.length,
    canarySlowShare: share(
      total((m) => m.sB),
      total((m) => m.nB),
    ),
    baselineSlowShare: share(
      total((m) => m.sA),
      total((m) => m.nA),
    ),
    medianRatio: medianRatio === null ? null : round(medianRatio, 4),
    rollbackRatio: round(rollback?.ratio ?? NaN, 4),
    promoteRatio: round(promote?.ratio ?? NaN, 4),
    rollbackLogEvidence: round(slowShareEvidence(rollbackMinutes, LATENCY_ROLLBACK_ODDS, priorShare)),
    promoteLogEvidence: round(slowShareEvidence(promoteMinutes, LATENCY_PROMOTE_ODDS, priorShare)),
    requiredForPromotion,
  };
}

function round(value: number, digits = 3): number {
  if (!Number.isFinite(value)) return value;
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
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

/** The latency ratio a promotion from `stepIndex` must rule out: ρ scaled by the exposure it leads to. */
export function latencyRatioToRuleOut(policy: RolloutPolicy, stepIndex: number): number {
  return 1 + ((policy.latencyRegressionRatio - 1) * 100) / nextStepWeight(policy, stepIndex);
}

/**
 * The latency thresholds of a rollout: the reference p50 and p99 for the baseline's side, and each
 * multiplied by every ratio its tests use for the canary's side (p50: the rollback ratio and each
 * step's ratio to rule out; p99: the tail rollback ratio and margin). The baseline's share above its
 * own reference percentile is that percentile's level (~50 %, ~1 %), and a canary exactly ρ × the
 * baseline AT THAT LEVEL has the same share above ρ × the reference, whatever the shape elsewhere:
 * so "p99 × 2" means the p99, not wherever a fixed value happens to fall in a stretched tail.
 */
export function latencyThresholds(policy: RolloutPolicy, reference: LatencyReference): LatencyThresholds {
  const tailRatio = policy.tailLatencyRegressionRatio ?? DEFAULT_TAIL_LATENCY_REGRESSION_RATIO;
  const tailMargin = policy.tailLatencyMarginRatio ?? DEFAULT_TAIL_LATENCY_MARGIN_RATIO;
  const p50Ratios = [
    ...new Set([
      round(policy.latencyRegressionRatio, 6),
      ...policy.steps.map((_, k) => round(latencyRatioToRuleOut(policy, k), 6)),
    ]),
  ];
  const wanted = [
    ...p50Ratios.map((ratio) => ({ percentile: 'p50' as const, ratio, at: reference.p50 })),
    ...[...new Set([round(tailRatio, 6), round(tailMargin, 6)])].map((ratio) => ({
      percentile: 'p99' as const,
      ratio,
      at: reference.p99,
    })),
  ];
  const raw = wanted.flatMap((w) => [w.at, w.at * w.ratio]);
  const values = [...new Set(raw.map((v) => round(v, 6)))].sort((a, b) => a - b);
  const index = (v: number) => values.indexOf(round(v, 6));
  return {
    values,
    comparisons: wanted.map((w) => ({
      percentile: w.percentile,
      ratio: w.ratio,
      canary: index(w.at * w.ratio),
      baseline: index(w.at),
    })),
  };
}

function newest(periods: readonly UsablePeriod[]): NewestPeriod | null {
  const last = periods[periods.length - 1];
  if (!last) return null;
  return {
    start: last.start,
    baseline: {
      invocations: last.nA,
      errors: last.eA,
      p50: last.latA?.p50 ?? null,
      p99: last.latA?.p99 ?? null,
    },
    canary: {
      invocations: last.nB,
      errors: last.eB,
      p50: last.latB?.p50 ?? null,
      p99: last.latB?.p99 ?? null,
    },
  };
}

function validReference(reference: LatencyReference | null | undefined): LatencyReference | null {
  if (!reference) return null;
  const { p50, p99, periodStart } = reference;
  return isPositive(p50) && isPositive(p99) && p99 >= p50 && Number.isFinite(periodStart) ? reference : null;
}

/**
 * Decides one step of a rollout. Rolls back at once on a canary alarm or on significant evidence that
 * the canary is worse; promotes only when the evidence shows the canary within every margin, every
 * alarm is OK and the step has baked; rolls back when the deadline passes without that evidence;
 * otherwise waits.
 */
export function judge(evidence: Evidence, policy: RolloutPolicy, now: number): Judgement {
  const lag = policy.publicationLagMinutes ?? DEFAULT_PUBLICATION_LAG_MINUTES;
  const tailRatio = policy.tailLatencyRegressionRatio ?? DEFAULT_TAIL_LATENCY_REGRESSION_RATIO;
  const reference = validReference(evidence.latencyReference);
  const thresholds = reference ? latencyThresholds(policy, reference) : null;
  const { periods, discarded, incomplete } = usablePeriods(
    evidence,
    now,
    lag,
    thresholds?.values.length ?? 0,
  );
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
  // so its dispersion prior starts from the CV² they show, at least CANARY_PRIOR_MIN_CV2 (a CV-1
  // world without that hour), and its own minutes take over as they come.
  const before = countsBefore(evidence.baselineHourBefore);
  const countsA = [...before, ...periods.map((p) => ({ n: p.nA, e: p.eA }))];
  const countsB = periods.map((p) => ({ n: p.nB, e: p.eB }));
  const dispersionA = pearsonDispersion(countsA);
  const cv2A = cv2OfDispersion(dispersionA, countsA);
  const dispersionB = pearsonDispersion(
    countsB,
    undefined,
    before.length > 0 && cv2A !== null ? Math.max(CANARY_PRIOR_MIN_CV2, cv2A) : 1,
  );
  const rateBefore = errorRateBefore(before);
  const shares = promoteShares(policy, rateBefore);
  const logThresholds = {
    errorRollback: Math.log(1 / (ALPHA_SHARES.errorRollback * policy.alpha)),
    p50Rollback: Math.log(1 / (ALPHA_SHARES.p50Rollback * policy.alpha)),
    p99Rollback: Math.log(1 / (ALPHA_SHARES.p99Rollback * policy.alpha)),
    errorPromote: Math.log(1 / (shares.canaryUpperBound * policy.alpha)),
    errorRatioPromote: Math.log(1 / (shares.ratioPromote * policy.alpha)),
    latencyPromote: Math.log(1 / policy.alpha),
  };
  const rollbackErrors = logRollbackErrorEvidence(periods, dispersionA, dispersionB);
  const baselineLower = rateLowerBound(
    eA / dispersionA,
    nA / dispersionA,
    Math.log(1 / (shares.baselineLowerBound * policy.alpha)),
  );
  const bound = canaryRateBound(policy, evidence.stepIndex, baselineLower);
  const promoteErrors = logBelowEvidence(eB / dispersionB, nB / dispersionB, bound);
  const canaryUpper = rateUpperBound(eB / dispersionB, nB / dispersionB, logThresholds.errorPromote);
  const ratioToRuleOut = errorRatioToRuleOut(policy, evidence.stepIndex);
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
  const errorsShownBelow =
    promoteErrors >= logThresholds.errorPromote || ratioPromote >= logThresholds.errorRatioPromote;
  const lastPromotion = nextStepWeight(policy, evidence.stepIndex) >= 100;
  // Thresholds derived from a rollout minute are judged only on later minutes (predictable thresholds).
  const latencyPeriods = reference ? periods.filter((p) => p.start > reference.periodStart) : [];
  const comparison = (percentile: 'p50' | 'p99', ratio: number) =>
    thresholds?.comparisons.find((c) => c.percentile === percentile && c.ratio === round(ratio, 6));
  const p50 = percentileTest(
    latencyPeriods,
    'p50',
    comparison('p50', policy.latencyRegressionRatio),
    comparison('p50', latencyRatioToRuleOut(policy, evidence.stepIndex)),
    true,
  );
  const tailMargin = policy.tailLatencyMarginRatio ?? DEFAULT_TAIL_LATENCY_MARGIN_RATIO;
  const p99 = percentileTest(
    latencyPeriods,
    'p99',
    comparison('p99', tailRatio),
    comparison('p99', tailMargin),
    lastPromotion,
  );

  const alarmsInAlarm = evidence.alarms.filter((a) => a.state === 'ALARM').map((a) => a.name);
  const alarmsNotOk = evidence.alarms.filter((a) => a.state !== 'OK').map((a) => a.name);
  const periodsThisStep = periods.filter((p) => p.start >= evidence.stepStartedAt && p.nB > 0).length;
  // Every test pools all periods of the rollout, so an intermediate step may promote on evidence gathered
  // earlier once it has baked; the last promotion (to 100 %) also needs a complete period at this step.
  const bakePassed =
    now - evidence.stepStartedAt >= policy.minBakeMinutes * MINUTE_MS &&
    (periodsThisStep > 0 || !lastPromotion);
  const deadlinePassed = now - evidence.rolloutStartedAt >= policy.deadlineMinutes * MINUTE_MS;
  const canaryWeight = policy.steps[evidence.stepIndex] ?? 0;

  const summary: EvidenceSummary = {
    stepIndex: evidence.stepIndex,
    canaryWeight,
    nextCanaryWeight: nextStepWeight(policy, evidence.stepIndex),
    minutesSinceStepStart: round((now - evidence.stepStartedAt) / MINUTE_MS, 2),
    minutesSinceRolloutStart: round((now - evidence.rolloutStartedAt) / MINUTE_MS, 2),
    alarmsInAlarm,
    alarmsNotOk,
    periodsUsed: periods.length,
    periodsDiscarded: discarded,
    periodsIncomplete: incomplete,
    periodsWithCanaryTrafficThisStep: periodsThisStep,
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
    errorTest: {
      estimatedRatio: eA > 0 && nB > 0 ? round(eB / nB / (eA / nA), 4) : null,
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
    latencyTest: { p50, p99 },
    logThresholds: {
      errorRollback: round(logThresholds.errorRollback),
      p50Rollback: round(logThresholds.p50Rollback),
      p99Rollback: round(logThresholds.p99Rollback),
      errorPromote: round(logThresholds.errorPromote),
      errorRatioPromote: round(logThresholds.errorRatioPromote),
      latencyPromote: round(logThresholds.latencyPromote),
    },
    bakePassed,
    deadlinePassed,
  };
  const newestPeriod = newest(periods);
  const decide = (verdict: Verdict, reason: string): Judgement => ({
    verdict,
    reason,
    summary,
    newestPeriod,
  });
  const pct = (rate: number) => `${round(rate * 100, 3)} %`;

  if (alarmsInAlarm.length > 0) {
    return decide('rollback', `canary alarm in ALARM: ${alarmsInAlarm.join(', ')}`);
  }
  if (rollbackErrors >= logThresholds.errorRollback) {
    return decide(
      'rollback',
      `canary 5xx rate is significantly higher than baseline (ratio ≈ ${summary.errorTest.estimatedRatio ?? '∞'})`,
    );
  }
  if (p50.rollbackLogEvidence >= logThresholds.p50Rollback) {
    return decide(
      'rollback',
      `canary p50 latency is significantly above ${policy.latencyRegressionRatio}× baseline (${pct(p50.canarySlowShare ?? 0)} of canary requests above ${policy.latencyRegressionRatio}× the reference p50, ${pct(p50.baselineSlowShare ?? 0)} of baseline requests above it, over ${p50.minutes} min)`,
    );
  }
  if (p99.rollbackLogEvidence >= logThresholds.p99Rollback) {
    return decide(
      'rollback',
      `canary p99 latency is significantly above ${tailRatio}× baseline (${pct(p99.canarySlowShare ?? 0)} of canary requests above ${tailRatio}× the reference p99, ${pct(p99.baselineSlowShare ?? 0)} of baseline requests above it, over ${p99.minutes} min)`,
    );
  }
  // Low traffic: a step whose share of the endpoint's requests is too few to judge is passed on (never
  // the last promotion), so the evidence gathers at a weight that sees requests.
  const minCanary = policy.minCanaryRequestsPerMinute ?? DEFAULT_MIN_CANARY_REQUESTS_PER_MINUTE;
  const errorsLean = rollbackErrors >= PROMOTION_HOLD_LOG_EVIDENCE;
  const recent = periods.slice(-10);
  const requestsPerMinute =
    recent.length > 0 ? recent.reduce((sum, p) => sum + p.nA + p.nB, 0) / recent.length : null;
  if (
    !lastPromotion &&
    alarmsNotOk.length === 0 &&
    !errorsLean &&
    requestsPerMinute !== null &&
    (requestsPerMinute * canaryWeight) / 100 < minCanary
  ) {
    return decide(
      'promote',
      `low traffic: ${round(requestsPerMinute, 1)} requests a minute give a ${canaryWeight}% canary fewer than ${minCanary} a minute, so the rollout moves on to ${summary.nextCanaryWeight}% canary to judge it`,
    );
  }
  const missing: string[] = [];
  if (alarmsNotOk.length > 0) missing.push(`alarms not OK: ${alarmsNotOk.join(', ')}`);
  if (errorsLean) {
    missing.push(
      `canary 5xx rate leans towards a regression (rollback log-evidence ${round(rollbackErrors, 2)} ≥ ${PROMOTION_HOLD_LOG_EVIDENCE})`,
    );
  }
  if (!errorsShownBelow) {
    missing.push(
      `canary 5xx rate not yet shown below ${pct(bound)} (upper bound ${pct(canaryUpper)} after ${nB} requests) nor below ${round(ratioToRuleOut, 2)}× baseline`,
    );
  }
  if (!reference) missing.push('no baseline latency reference yet, so latency cannot be judged');
  else if (p50.promoteLogEvidence < logThresholds.latencyPromote) {
    missing.push(`p50 latency ratio ≥ ${round(p50.promoteRatio, 2)} not yet ruled out`);
  }
  if (lastPromotion && p99.promoteLogEvidence < logThresholds.latencyPromote) {
    missing.push(`p99 latency ratio ≥ ${tailMargin} not yet ruled out`);
  }
  if (!bakePassed) missing.push('minimum bake of this step not reached');
  if (missing.length === 0) {
    return decide('promote', `no meaningful regression: promote to ${summary.nextCanaryWeight}% canary`);
  }
  if (deadlinePassed) {
    return decide(
      'rollback',
      `deadline of ${policy.deadlineMinutes} min passed without evidence: ${missing.join('; ')}`,
    );
  }
  return decide('wait', missing.join('; '));
}
