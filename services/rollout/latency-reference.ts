/**
 * Which baseline latency a rollout's fixed latency thresholds derive from (`latencyThresholds` in
 * judge.ts). Pure: the judge handler reads CloudWatch and applies these rules on every call, and the
 * same data always gives the same reference, so every call of one rollout uses the same thresholds.
 *
 * 1. The baseline's `ModelLatency` p50 and p99 over the hour before the rollout (`referenceWindow`),
 *    once that hour is published in full (`referenceHourSettledAt`) and if it holds at least
 *    MIN_REFERENCE_SAMPLES samples;
 * 2. otherwise the baseline's p50 and p99 in the first published rollout minute that has both
 *    (`firstMinuteReference`).
 */
import type { BaselineMinute, LatencyReference, PeriodMetrics } from './judge';

/** A latency reference and how many `ModelLatency` samples it was computed from. */
export interface MeasuredLatencyReference extends LatencyReference {
  readonly samples: number;
  /**
   * The baseline's minutes of the same hour that have both an Invocations and an Invocation5XXErrors
   * sum (the judge's `baselineHourBefore`); absent for a first-rollout-minute reference.
   */
  readonly minutes?: readonly BaselineMinute[];
}

/**
 * Fewest samples the hour before the rollout needs to be the reference: the p99 of fewer is their
 * slowest request, and an hour with so few is an idle stage's smoke test (dev), whose first rollout
 * minute under the traffic source says more.
 */
export const MIN_REFERENCE_SAMPLES = 100;

const MINUTE_MS = 60_000;
const HOUR_SECONDS = 3600;

/**
 * The hour before the rollout: from the rollout start floored to the minute, minus 3600 s, to that
 * floor. One period of 3600 s, so CloudWatch answers one datapoint for the whole hour.
 */
export function referenceWindow(rolloutStartedAt: number): { start: Date; end: Date; periodSeconds: number } {
  const end = Math.floor(rolloutStartedAt / MINUTE_MS) * MINUTE_MS;
  return { start: new Date(end - HOUR_SECONDS * 1000), end: new Date(end), periodSeconds: HOUR_SECONDS };
}

/**
 * When the hour's last minute is published: before that its datapoint may still change, so there is
 * no reference yet rather than one that a later call would read differently.
 */
export function referenceHourSettledAt(rolloutStartedAt: number, lagMinutes: number): number {
  return referenceWindow(rolloutStartedAt).end.getTime() + lagMinutes * MINUTE_MS;
}

/**
 * The first rollout minute that is published (closed `lagMinutes` ago) and has baseline p50 and p99:
 * the reference when the hour before the rollout had (almost) no traffic. Minutes that began before
 * the rollout's first whole minute are not the rollout's.
 */
export function firstMinuteReference(
  periods: readonly PeriodMetrics[],
  rolloutStartedAt: number,
  now: number,
  lagMinutes: number,
  periodSeconds = 60,
): MeasuredLatencyReference | null {
  const periodMs = periodSeconds * 1000;
  const first = Math.ceil(rolloutStartedAt / periodMs) * periodMs;
  const candidates = [...periods]
    .filter((p) => p.start >= first && p.start + periodMs + lagMinutes * MINUTE_MS <= now)
    .sort((a, b) => a.start - b.start);
  for (const period of candidates) {
    const { p50, p99, latencySamples, invocations } = period.baseline;
    if (typeof p50 === 'number' && typeof p99 === 'number' && p50 > 0 && p99 >= p50) {
      return { p50, p99, periodStart: period.start, samples: latencySamples ?? invocations ?? 0 };
    }
  }
  return null;
}
