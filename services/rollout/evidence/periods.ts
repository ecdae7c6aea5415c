/**
 * The minutes a rollout is judged on: which CloudWatch periods count, and what each variant's figures
 * in them are once checked. Every evidence family (errors, latency, quality) reads these, so a minute
 * that is partial, garbled or too young counts for none of them.
 *
 * A one-minute period is used only once `publicationLagMinutes` have passed since it closed
 * (CloudWatch publishes SageMaker's per-minute metrics 1–3 minutes late and meanwhile shows a partly
 * aggregated datapoint), and only when its figures are consistent: counts are whole and non-negative,
 * errors ≤ invocations, errors present whenever requests were served, and the latency sample count
 * agrees with the invocations (between invocations − errors and invocations). A period that fails only
 * the sample-count check is "incomplete" and is read again on the next call.
 */
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
  /** Labelled answers this variant gave (the traffic source's `LabelledAnswers` sum); absent: none. */
  readonly labelled?: number | null;
  /** Of those, the answers equal to the row's label (`CorrectAnswers` sum). */
  readonly correct?: number | null;
  /**
   * Answers per predicted class (the predict function's `Predictions` by `PredictedClass`: a label, or
   * a regression bin), in the order of the evidence's `quality.classes`. A null entry: no datapoint.
   */
  readonly predicted?: readonly (number | null)[] | null;
}

/** Both variants' figures for one CloudWatch period. */
export interface PeriodMetrics {
  /** Period start, epoch milliseconds. */
  readonly start: number;
  readonly baseline: VariantPeriodMetrics;
  readonly canary: VariantPeriodMetrics;
}

/** One minute of the baseline before the rollout: its Invocations and Invocation5XXErrors sums. */
export interface BaselineMinute {
  readonly invocations: number;
  readonly errors: number;
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

/** Where the periods come from and which of them belong to this rollout. */
export interface PeriodSource {
  readonly periods: readonly PeriodMetrics[];
  readonly periodSeconds: number;
  /** When the first canary weight was applied; earlier periods belong to another rollout. */
  readonly rolloutStartedAt: number;
}

export const MINUTE_MS = 60_000;

export interface LatencyPoint {
  readonly samples: number;
  readonly p50: number | null;
  readonly p99: number | null;
  /** Samples at or below each threshold value; null when a count is missing or inconsistent. */
  readonly atOrBelow: readonly (number | null)[] | null;
}

/** One period both variants' figures of which passed every check. */
export interface UsablePeriod {
  readonly start: number;
  readonly nA: number;
  readonly eA: number;
  readonly nB: number;
  readonly eB: number;
  readonly latA: LatencyPoint | null;
  readonly latB: LatencyPoint | null;
  /** The period's figures as read, for the quality family, which checks its own counts. */
  readonly baseline: VariantPeriodMetrics;
  readonly canary: VariantPeriodMetrics;
}

interface CleanVariant {
  readonly n: number;
  readonly e: number;
  readonly lat: LatencyPoint | null;
  /** The latency sample count contradicts the invocations: not fully aggregated yet. */
  readonly incomplete: boolean;
}

export function isCount(value: number | null | undefined): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 && Number.isInteger(value);
}

export function isPositive(value: number | null | undefined): value is number {
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

export interface Periods {
  readonly periods: UsablePeriod[];
  readonly discarded: number;
  readonly incomplete: number;
}

/** The rollout's periods that count, oldest first, and how many were dropped or are not complete yet. */
export function usablePeriods(
  evidence: PeriodSource,
  now: number,
  lagMinutes: number,
  thresholdCount: number,
): Periods {
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
    periods.push({
      start,
      nA: a.n,
      eA: a.e,
      nB: b.n,
      eB: b.e,
      latA: a.lat,
      latB: b.lat,
      baseline: only.baseline,
      canary: only.canary,
    });
  }
  return { periods, discarded, incomplete };
}

/** The hour-before minutes that are counts, by the rollout minutes' rule (`cleanVariant`), as n and e. */
export function countsBefore(
  minutes: readonly BaselineMinute[] | null | undefined,
): { n: number; e: number }[] {
  return (minutes ?? []).flatMap((m) => {
    const counts = cleanVariant(m, 0);
    return counts ? [{ n: counts.n, e: counts.e }] : [];
  });
}

/** The newest period used, as the decision record shows it. */
export function newest(periods: readonly UsablePeriod[]): NewestPeriod | null {
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
