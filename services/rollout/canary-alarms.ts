/**
 * The canary alarms' definitions, shared by the CDK construct that deploys them
 * (lib/app/monitoring/monitoring.ts) and the benchmark that models them (bench/canary.ts), so a judged
 * scenario always includes exactly the alarms a stage deploys.
 *
 * Both alarms watch the canary variant per minute through metric math with a minimum-invocations
 * guard: `IF(invocations >= minInvocations, value)` yields no datapoint for a thin minute, and missing
 * datapoints are not breaching. A 5 % canary at 1 req/s serves 3 requests a minute; one 5xx among them
 * is "33 %", which is noise, not a gate. The alarms are the safety net for gross failures; the judge
 * decides everything subtler, with statistics.
 */

/** One alarm's evaluation rule (CloudWatch semantics: M of the newest N one-minute datapoints breach). */
export interface CanaryAlarmRule {
  /** Minimum canary invocations in a minute for its datapoint to exist. */
  readonly minInvocations: number;
  readonly threshold: number;
  readonly evaluationPeriods: number;
  readonly datapointsToAlarm: number;
}

/** The per-stage canary alarm settings (props of `Monitoring`, defaults below). */
export interface CanaryAlarmSettings {
  /** 5xx ÷ invocations of the canary, in percent, above which a minute breaches. */
  readonly errorRatePercent: number;
  /** p99 `ModelLatency` of the canary, in milliseconds, above which a minute breaches. */
  readonly latencyP99Ms: number;
  /** Minimum canary invocations per minute for the 5xx alarm to judge that minute. */
  readonly minInvocations: number;
  /**
   * Minimum canary invocations per minute for the latency alarm to judge that minute. Higher than the
   * 5xx guard: the p99 of fewer than 100 requests is their maximum, which a healthy lognormal model
   * (σ 1, p99 at half the threshold) pushes above the threshold in 7 % of 60-request minutes.
   */
  readonly latencyMinInvocations: number;
  readonly evaluationPeriods: number;
  readonly datapointsToAlarm: number;
}

/**
 * Defaults: 10 % 5xx (a baseline at 2 % with minute-to-minute swings of CV 1 breaches 5 % in one
 * minute out of ten) in minutes with at least 50 invocations, p99 above 1 s in minutes with at least
 * 200, 3 of 5 minutes (CloudWatch publishes
 * 1–3 minutes late, so the newest one or two minutes of the window are often still missing).
 */
export const CANARY_ALARM_DEFAULTS: CanaryAlarmSettings = Object.freeze({
  errorRatePercent: 10,
  latencyP99Ms: 1000,
  minInvocations: 50,
  latencyMinInvocations: 200,
  evaluationPeriods: 5,
  datapointsToAlarm: 3,
});

/** The figures of one canary minute as an alarm sees them (null: no datapoint yet or missing). */
export interface CanaryAlarmMinute {
  readonly invocations: number | null;
  readonly errors: number | null;
  /** p99 ModelLatency in milliseconds. */
  readonly p99Ms: number | null;
}

/** The metric-math value of the 5xx alarm for one minute, or null when the guard drops the datapoint. */
export function errorRateDatapoint(minute: CanaryAlarmMinute, settings: CanaryAlarmSettings): number | null {
  if (minute.invocations === null || minute.errors === null) return null;
  if (minute.invocations < settings.minInvocations) return null;
  return (100 * minute.errors) / minute.invocations;
}

/** The metric-math value of the latency alarm for one minute, or null when the guard drops it. */
export function latencyDatapoint(minute: CanaryAlarmMinute, settings: CanaryAlarmSettings): number | null {
  if (minute.invocations === null || minute.p99Ms === null) return null;
  if (minute.invocations < settings.latencyMinInvocations) return null;
  return minute.p99Ms;
}

/**
 * Which alarms are in ALARM given the newest `evaluationPeriods` minutes, oldest first, as CloudWatch
 * has them at that moment (missing datapoints are not breaching, as deployed).
 */
export function canaryAlarmsInAlarm(
  window: readonly CanaryAlarmMinute[],
  settings: CanaryAlarmSettings = CANARY_ALARM_DEFAULTS,
): { readonly errorRate: boolean; readonly latency: boolean } {
  const recent = window.slice(-settings.evaluationPeriods);
  let errorBreaches = 0;
  let latencyBreaches = 0;
  for (const minute of recent) {
    const rate = errorRateDatapoint(minute, settings);
    if (rate !== null && rate > settings.errorRatePercent) errorBreaches += 1;
    const p99 = latencyDatapoint(minute, settings);
    if (p99 !== null && p99 > settings.latencyP99Ms) latencyBreaches += 1;
  }
  return {
    errorRate: errorBreaches >= settings.datapointsToAlarm,
    latency: latencyBreaches >= settings.datapointsToAlarm,
  };
}
