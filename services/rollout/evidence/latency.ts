/**
 * Evidence family: latency, judged on requests above fixed thresholds.
 *
 * The rollout's thresholds derive from a baseline reference (`LatencyReference`: its p50 and p99 over
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
 * Rollback: **p50** above latencyRegressionRatio × baseline and **p99** above
 * tailLatencyRegressionRatio × baseline (odds ratios > 1). Promotion: p50 below
 * ρ_step × baseline, ρ_step = 1 + (ρ − 1)·100 / w_next (the exposure argument of the error family), and,
 * for the last promotion only, p99 below tailLatencyMarginRatio × baseline (2 by default, above the
 * rollback test's 1.5: only ~1 % of requests tell about the p99), each at the full alpha.
 */
import {
  DEFAULT_TAIL_LATENCY_MARGIN_RATIO,
  DEFAULT_TAIL_LATENCY_REGRESSION_RATIO,
  nextStepWeight,
  type RolloutPolicy,
} from '../policy';
import { mixture, round } from '../stats';
import { isPositive, type UsablePeriod } from './periods';

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

/** The reference when it can give thresholds (positive p50 ≤ p99), else null. */
export function validReference(reference: LatencyReference | null | undefined): LatencyReference | null {
  if (!reference) return null;
  const { p50, p99, periodStart } = reference;
  return isPositive(p50) && isPositive(p99) && p99 >= p50 && Number.isFinite(periodStart) ? reference : null;
}

/** What the latency family found at one decision. */
export interface LatencyEvidence {
  readonly p50: PercentileTest;
  readonly p99: PercentileTest;
  /** log(1/level) of the p50 and p99 rollback tests and of the promote tests. */
  readonly logThresholds: {
    readonly p50Rollback: number;
    readonly p99Rollback: number;
    readonly promote: number;
  };
  /** Why to roll back now, or null. */
  readonly rollback: string | null;
  /** What promotion still lacks from this family (empty: nothing). */
  readonly missing: readonly string[];
}

const percent = (rate: number) => `${round(rate * 100, 3)} %`;

/**
 * The latency family's tests at the current step: the p50 and p99 rollback tests at their alpha, the
 * promote tests at `policy.alpha` (the p99 one only gates the last promotion). Without a reference
 * there is no latency evidence, and nothing promotes.
 */
export function judgeLatency(
  periods: readonly UsablePeriod[],
  reference: LatencyReference | null,
  thresholds: LatencyThresholds | null,
  policy: RolloutPolicy,
  stepIndex: number,
  rollbackAlpha: { readonly p50: number; readonly p99: number },
): LatencyEvidence {
  const tailRatio = policy.tailLatencyRegressionRatio ?? DEFAULT_TAIL_LATENCY_REGRESSION_RATIO;
  const tailMargin = policy.tailLatencyMarginRatio ?? DEFAULT_TAIL_LATENCY_MARGIN_RATIO;
  const lastPromotion = nextStepWeight(policy, stepIndex) >= 100;
  // Thresholds derived from a rollout minute are judged only on later minutes (predictable thresholds).
  const latencyPeriods = reference ? periods.filter((p) => p.start > reference.periodStart) : [];
  const comparison = (percentile: 'p50' | 'p99', ratio: number) =>
    thresholds?.comparisons.find((c) => c.percentile === percentile && c.ratio === round(ratio, 6));
  const p50 = percentileTest(
    latencyPeriods,
    'p50',
    comparison('p50', policy.latencyRegressionRatio),
    comparison('p50', latencyRatioToRuleOut(policy, stepIndex)),
    true,
  );
  const p99 = percentileTest(
    latencyPeriods,
    'p99',
    comparison('p99', tailRatio),
    comparison('p99', tailMargin),
    lastPromotion,
  );
  const logThresholds = {
    p50Rollback: Math.log(1 / rollbackAlpha.p50),
    p99Rollback: Math.log(1 / rollbackAlpha.p99),
    promote: Math.log(1 / policy.alpha),
  };
  let rollback: string | null = null;
  if (p50.rollbackLogEvidence >= logThresholds.p50Rollback) {
    rollback = `canary p50 latency is significantly above ${policy.latencyRegressionRatio}× baseline (${percent(p50.canarySlowShare ?? 0)} of canary requests above ${policy.latencyRegressionRatio}× the reference p50, ${percent(p50.baselineSlowShare ?? 0)} of baseline requests above it, over ${p50.minutes} min)`;
  } else if (p99.rollbackLogEvidence >= logThresholds.p99Rollback) {
    rollback = `canary p99 latency is significantly above ${tailRatio}× baseline (${percent(p99.canarySlowShare ?? 0)} of canary requests above ${tailRatio}× the reference p99, ${percent(p99.baselineSlowShare ?? 0)} of baseline requests above it, over ${p99.minutes} min)`;
  }
  const missing: string[] = [];
  if (!reference) missing.push('no baseline latency reference yet, so latency cannot be judged');
  else if (p50.promoteLogEvidence < logThresholds.promote) {
    missing.push(`p50 latency ratio ≥ ${round(p50.promoteRatio, 2)} not yet ruled out`);
  }
  if (lastPromotion && p99.promoteLogEvidence < logThresholds.promote) {
    missing.push(`p99 latency ratio ≥ ${tailMargin} not yet ruled out`);
  }
  return { p50, p99, logThresholds, rollback, missing };
}
