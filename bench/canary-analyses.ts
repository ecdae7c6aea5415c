/**
 * The statistical and threshold canary analyses users configure elsewhere, as their docs configure
 * them, each reading the world's CloudWatch minutes as they stand when it looks (late, partly
 * aggregated, some never arriving) and gated by the deployed canary alarms like every strategy:
 *
 * - Kayenta's NetflixACAJudge (Spinnaker canary analysis): per-minute arrays of the canary's and the
 *   baseline's 5xx rate, p50 and p99, Mann-Whitney 98 % confidence interval per metric, score =
 *   100 × passing / judged metrics, judged on a growing window every KAYENTA.intervalMinutes.
 * - Argo Rollouts with the CloudWatch analysis provider: the canary's 5xx rate over the last 5 minutes,
 *   measured every minute, `successCondition` ≤ 1 %, `failureLimit` 3; the policy's steps.
 * - Flagger: every minute, the newest datapoint's success rate ≥ 99 % and p99 ≤ the alarm's threshold;
 *   `stepWeight` 5 up to `maxWeight` 50, rolled back at `threshold` 10 failed checks.
 */
import { CANARY_ALARM_DEFAULTS } from '../services/rollout/canary-alarms';
import type { PeriodMetrics, VariantPeriodMetrics } from '../services/rollout/judge';
import type { RolloutPolicy } from '../services/rollout/policy';
import { normalQuantile } from './canary-sim';
import { Endpoint, MINUTE_MS, WEIGHT_DELAY_MINUTES, type Sim, type TrialResult } from './canary-world';

/** What a strategy decides at a minute: the canary share from now on, or a rollback. */
export type Decision = number | 'rollback';

/**
 * Drives one rollout a minute at a time: the deployed alarms first, then `decide` (which sees the
 * endpoint as CloudWatch shows it at minute t and the current share). The canary serving 100 % ends the
 * rollout as promoted; reaching `lastMinute` without a verdict ends it as a deadline.
 */
export function drive(
  sim: Sim,
  lastMinute: number,
  decide: (t: number, endpoint: Endpoint, share: number) => Decision,
  thresholds: readonly number[] = [],
): TrialResult {
  const endpoint = new Endpoint(sim, thresholds);
  let share = 0;
  const stop = (t: number, ending: TrialResult['ending']): TrialResult => {
    const before = endpoint.serveMinute(t, 0);
    return {
      ending,
      minutes: t,
      minutesTo100: null,
      canaryRequests: endpoint.canaryServed + before,
      syntheticRequests: endpoint.synthetic,
    };
  };
  for (let t = 0; t <= lastMinute; t++) {
    const alarms = t > 0 ? endpoint.alarms(t) : { errorRate: false, latency: false };
    if (alarms.errorRate || alarms.latency) return stop(t, 'alarm');
    const decision = decide(t, endpoint, share);
    if (decision === 'rollback') return stop(t, 'judge');
    share = decision;
    if (share >= 1) {
      return {
        ending: 'promoted',
        minutes: t + WEIGHT_DELAY_MINUTES,
        minutesTo100: t + WEIGHT_DELAY_MINUTES,
        canaryRequests: endpoint.canaryServed,
        syntheticRequests: endpoint.synthetic,
      };
    }
    endpoint.serveMinute(t, share);
    endpoint.canaryServed += endpoint.minutes[t].canaryRequests;
  }
  return stop(lastMinute, 'deadline');
}

const errorRate = (v: VariantPeriodMetrics): number | null =>
  v.invocations && v.errors !== null && v.errors !== undefined ? v.errors / v.invocations : null;

/** Visible periods of the minutes in [from, to), oldest first. */
function window(endpoint: Endpoint, t: number, from: number): PeriodMetrics[] {
  return endpoint.visible(t).filter((p) => p.start >= from * MINUTE_MS);
}

// ---------------------------------------------------------------------------------------------------
// Kayenta

/**
 * Kayenta as a user would set it up for a one-hour rollout (its documented starting values, lifetime
 * 3 h and interval 1 h, would give a one-hour rollout a single judgement at its end): canary at 10 %
 * for a lifetime of 60 minutes, judged every 10 minutes on everything since the start, marginal 75,
 * pass 95; metrics: 5xx rate, p50 and p99 of the canary against the baseline, direction increase,
 * NaN (no datapoint) removed.
 */
export const KAYENTA = Object.freeze({
  weight: 0.1,
  lifetimeMinutes: 60,
  intervalMinutes: 10,
  marginal: 75,
  pass: 95,
  confidenceLevel: 0.98,
  /** The classifier's tolerance: High when the interval's lower end exceeds this × |HL|. */
  tolerance: 0.25,
  allowedIncrease: 1,
});

/** Mann-Whitney confidence interval for the shift x − y and the Hodges-Lehmann estimate. */
export interface MannWhitneyInterval {
  readonly lower: number;
  readonly upper: number;
  readonly estimate: number;
}

/**
 * R's `wilcox.test(x, y, conf.int = TRUE, correct = TRUE, exact = FALSE)`, which Kayenta's
 * MannWhitney ports: the normal approximation with tie and continuity correction, each bound (and the
 * estimate, at z = 0) the root of the standardized rank-sum statistic of x − d against y over d in
 * [min x − max y, max x − min y], found by bisection. Null when every observation is tied.
 */
export function mannWhitneyInterval(
  x: readonly number[],
  y: readonly number[],
  confidenceLevel: number,
): MannWhitneyInterval | null {
  const nx = x.length;
  const ny = y.length;
  const statistic = (d: number, zq: number): number | null => {
    const values = [...x.map((v) => ({ v: v - d, isX: true })), ...y.map((v) => ({ v, isX: false }))];
    values.sort((a, b) => a.v - b.v);
    let rankSumX = 0;
    let ties = 0;
    for (let i = 0; i < values.length;) {
      let j = i;
      while (j + 1 < values.length && values[j + 1].v === values[i].v) j++;
      const rank = (i + j + 2) / 2;
      const size = j - i + 1;
      ties += size ** 3 - size;
      for (let k = i; k <= j; k++) if (values[k].isX) rankSumX += rank;
      i = j + 1;
    }
    const n = nx + ny;
    const dz = rankSumX - (nx * (nx + 1)) / 2 - (nx * ny) / 2;
    const sigma = Math.sqrt(((nx * ny) / 12) * (n + 1 - ties / (n * (n - 1))));
    if (sigma === 0) return null;
    return (dz - Math.sign(dz) * 0.5) / sigma - zq;
  };
  const low = Math.min(...x) - Math.max(...y);
  const high = Math.max(...x) - Math.min(...y);
  const root = (zq: number): number | null => {
    const fLow = statistic(low, zq);
    const fHigh = statistic(high, zq);
    if (fLow === null || fHigh === null) return null;
    if (fLow <= 0) return low;
    if (fHigh >= 0) return high;
    let a = low;
    let b = high;
    // The statistic falls as d grows; 60 halvings reach double precision of the range.
    for (let i = 0; i < 60 && b - a > 1e-12 * Math.max(1, Math.abs(a)); i++) {
      const mid = (a + b) / 2;
      const f = statistic(mid, zq);
      if (f === null) return null;
      if (f > 0) a = mid;
      else b = mid;
    }
    return (a + b) / 2;
  };
  const z = normalQuantile(1 - (1 - confidenceLevel) / 2);
  const lower = root(z);
  const upper = root(-z);
  const estimate = root(0);
  return lower === null || upper === null || estimate === null ? null : { lower, upper, estimate };
}

type Classification = 'Pass' | 'High' | 'Nodata';

/** NetflixACAJudge's Mann-Whitney classifier for a metric whose increase is bad. */
export function classifyIncrease(canary: readonly number[], baseline: readonly number[]): Classification {
  if (canary.length === 0 || baseline.length === 0) return 'Nodata';
  if (canary.length === baseline.length && canary.every((v, i) => v === baseline[i])) return 'Pass';
  const interval = mannWhitneyInterval(canary, baseline, KAYENTA.confidenceLevel);
  if (interval === null) return 'Pass';
  const mean = (values: readonly number[]) => values.reduce((s, v) => s + v, 0) / values.length;
  const ratio = mean(canary) / mean(baseline);
  const high =
    interval.lower > KAYENTA.tolerance * Math.abs(interval.estimate) && !(ratio < KAYENTA.allowedIncrease);
  return high ? 'High' : 'Pass';
}

/** Kayenta's score over the minutes visible at t: 100 × passing ÷ judged metrics; null when none is judged. */
export function kayentaScore(periods: readonly PeriodMetrics[]): number | null {
  const series = (pick: (v: VariantPeriodMetrics) => number | null | undefined, canary: boolean) =>
    periods
      .map((p) => pick(canary ? p.canary : p.baseline))
      .filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  const metrics = [errorRate, (v: VariantPeriodMetrics) => v.p50, (v: VariantPeriodMetrics) => v.p99];
  const classes = metrics
    .map((pick) => classifyIncrease(series(pick, true), series(pick, false)))
    .filter((c) => c !== 'Nodata');
  if (classes.length === 0) return null;
  return (100 * classes.filter((c) => c === 'Pass').length) / classes.length;
}

/** A Kayenta canary analysis: fixed weight, growing-window judgements, then 100 % or a rollback. */
export function simulateKayenta(sim: Sim): TrialResult {
  return drive(sim, KAYENTA.lifetimeMinutes, (t, endpoint) => {
    if (t === 0 || t % KAYENTA.intervalMinutes !== 0) return KAYENTA.weight;
    const score = kayentaScore(window(endpoint, t, 0));
    const last = t >= KAYENTA.lifetimeMinutes;
    if (score !== null && score <= KAYENTA.marginal) return 'rollback';
    if (!last) return KAYENTA.weight;
    return score !== null && score >= KAYENTA.pass ? 1 : 'rollback';
  });
}

// ---------------------------------------------------------------------------------------------------
// Argo Rollouts

/**
 * Argo Rollouts' CloudWatch analysis as its docs configure it: a measurement every minute of
 * `errors / requests` summed over the last 5 minutes (one 300 s period), `successCondition`
 * `all(result[0].Values, {# <= 0.01})`, `failureLimit` 3 (the run fails when failed measurements > 3);
 * a background analysis over the policy's steps, each `setWeight` followed by `pause: {duration: 5m}`.
 * With no datapoint the Values are empty and `all` holds: the docs' template has no failureCondition,
 * so no measurement is inconclusive (an inconclusive one would pause the rollout for a person).
 */
export const ARGO = Object.freeze({
  measurementIntervalMinutes: 1,
  windowMinutes: 5,
  maxErrorRate: 0.01,
  failureLimit: 3,
  pauseMinutes: 5,
});

/** One Argo measurement at minute t: 'success' or 'failed' (the docs' condition has no inconclusive). */
export function argoMeasurement(endpoint: Endpoint, t: number): 'success' | 'failed' {
  let errors = 0;
  let requests = 0;
  for (const p of window(endpoint, t, t - ARGO.windowMinutes)) {
    requests += p.canary.invocations ?? 0;
    errors += p.canary.errors ?? 0;
  }
  return requests > 0 && errors / requests > ARGO.maxErrorRate ? 'failed' : 'success';
}

/** An Argo canary rollout: the policy's steps on a timer, the analysis aborting it. */
export function simulateArgo(sim: Sim, policy: RolloutPolicy): TrialResult {
  let failed = 0;
  const lastMinute = ARGO.pauseMinutes * (policy.steps.length - 1);
  return drive(sim, lastMinute, (t, endpoint) => {
    if (argoMeasurement(endpoint, t) === 'failed' && ++failed > ARGO.failureLimit) return 'rollback';
    const step = Math.min(Math.floor(t / ARGO.pauseMinutes), policy.steps.length - 1);
    return policy.steps[step] / 100;
  });
}

// ---------------------------------------------------------------------------------------------------
// Flagger

/**
 * Flagger as its docs' example configures the analysis: `interval` 1m, `threshold` 10, `stepWeight` 5,
 * `maxWeight` 50; metrics request-success-rate (min 99 %) and request-duration p99 (max: the deployed
 * alarm's threshold), each the newest datapoint CloudWatch returns for the canary. No datapoint is a
 * failed check ("no values found" halts advancement). Failed checks accumulate; at `threshold` it rolls
 * back; at `maxWeight` a passing check promotes.
 */
export const FLAGGER = Object.freeze({
  threshold: 10,
  stepWeight: 5,
  maxWeight: 50,
  minSuccessRatePercent: 99,
  maxP99Ms: CANARY_ALARM_DEFAULTS.latencyP99Ms,
  /** How far back the CloudWatch query reaches for the newest datapoint. */
  queryMinutes: 5,
});

/** Flagger's check at minute t: both metrics' newest datapoints within their ranges. */
export function flaggerCheck(endpoint: Endpoint, t: number): boolean {
  const recent = window(endpoint, t, t - FLAGGER.queryMinutes).reverse();
  const rate = recent.map((p) => errorRate(p.canary)).find((r) => r !== null);
  const p99 = recent.map((p) => p.canary.p99).find((v) => typeof v === 'number');
  if (rate === undefined || rate === null || p99 === undefined || p99 === null) return false;
  return 100 * (1 - rate) >= FLAGGER.minSuccessRatePercent && p99 <= FLAGGER.maxP99Ms;
}

/** A Flagger canary analysis. */
export function simulateFlagger(sim: Sim, policy: RolloutPolicy): TrialResult {
  let failed = 0;
  let weight = 0;
  return drive(sim, policy.deadlineMinutes, (t, endpoint) => {
    if (weight === 0) {
      weight = FLAGGER.stepWeight;
      return weight / 100;
    }
    if (!flaggerCheck(endpoint, t)) {
      return ++failed >= FLAGGER.threshold ? 'rollback' : weight / 100;
    }
    if (weight >= FLAGGER.maxWeight) return 1;
    weight = Math.min(FLAGGER.maxWeight, weight + FLAGGER.stepWeight);
    return weight / 100;
  });
}
