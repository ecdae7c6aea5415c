import { mulberry32 } from '../../scripts/seeded-random';

/**
 * CloudWatch's GetMetricData over SageMaker's per-variant metrics, computed from raw requests: what the
 * CloudWatch stand-in answers so the judge's real adapter and handler can be tested on the wire.
 *
 * It checks a request the way CloudWatch documents it (at most 500 queries, ids `^[a-z][a-zA-Z0-9_]*$`
 * and unique, Period a multiple of 60, statistics `Sum`, `SampleCount`, `pNN` and `PR(:v)` with v a
 * plain decimal of at most 10 decimal places) and answers a `ValidationError` otherwise. Periods start
 * at StartTime; a period with no request has no latency datapoint, one with no minute recorded has no
 * datapoint at all. Percentiles are nearest-rank order statistics and `PR(:v)` the exact percentage of
 * samples <= v: CloudWatch's own percentiles are approximations of these.
 */
export class SageMakerMetrics {
  /** variant → minute start (epoch ms) → that minute's requests. */
  private readonly minutes = new Map<string, Map<number, { latenciesUs: number[]; errors: number }>>();

  /** Records one minute of a variant: every request's ModelLatency (µs) and how many were 5xx. */
  record(variant: string, minuteStart: number, latenciesUs: readonly number[], errors = 0): void {
    const byMinute = this.minutes.get(variant) ?? new Map();
    byMinute.set(minuteStart, { latenciesUs: [...latenciesUs].sort((a, b) => a - b), errors });
    this.minutes.set(variant, byMinute);
  }

  /** The latencies (µs) of a variant in [start, end), sorted: what a test computes expected counts from. */
  latencies(variant: string, start: number, end: number): number[] {
    return [...(this.minutes.get(variant) ?? new Map()).entries()]
      .filter(([minute]) => minute >= start && minute < end)
      .flatMap(([, m]) => m.latenciesUs)
      .sort((a, b) => a - b);
  }

  /** The GetMetricData answer (JSON protocol body) or a ValidationError. */
  answer(input: Record<string, unknown>): { status: number; body: unknown } {
    const invalid = (message: string) => ({ status: 400, body: { __type: 'ValidationError', message } });
    const queries = (input.MetricDataQueries ?? []) as MetricDataQueryJson[];
    if (queries.length === 0 || queries.length > 500) {
      return invalid(`MetricDataQueries must hold 1 to 500 queries, got ${queries.length}`);
    }
    const ids = new Set<string>();
    for (const q of queries) {
      if (!/^[a-z][a-zA-Z0-9_]*$/.test(q.Id) || ids.has(q.Id))
        return invalid(`invalid or repeated Id ${q.Id}`);
      ids.add(q.Id);
      const stat = q.MetricStat?.Stat ?? '';
      if (!STAT.test(stat)) return invalid(`invalid statistic ${stat} in ${q.Id}`);
      const period = q.MetricStat?.Period ?? 0;
      if (period <= 0 || period % 60 !== 0) return invalid(`invalid Period ${period} in ${q.Id}`);
    }
    const start = epochMs(input.StartTime);
    const end = epochMs(input.EndTime);
    if (!(start < end)) return invalid('StartTime must be before EndTime');
    return {
      status: 200,
      body: { MetricDataResults: queries.map((q) => this.result(q, start, end)), Messages: [] },
    };
  }

  private result(q: MetricDataQueryJson, start: number, end: number) {
    const stat = q.MetricStat!.Stat;
    const periodMs = q.MetricStat!.Period * 1000;
    const dimension = (name: string) => q.MetricStat!.Metric.Dimensions.find((d) => d.Name === name)?.Value;
    const byMinute = this.minutes.get(dimension('VariantName') ?? '') ?? new Map();
    const timestamps: number[] = [];
    const values: number[] = [];
    for (let from = start; from < end; from += periodMs) {
      const inPeriod = [...byMinute.entries()]
        .filter(([m]) => m >= from && m < from + periodMs)
        .map(([, v]) => v);
      if (inPeriod.length === 0) continue;
      const latencies = inPeriod.flatMap((m) => m.latenciesUs).sort((a, b) => a - b);
      const errors = inPeriod.reduce((sum, m) => sum + m.errors, 0);
      const value = statistic(q.MetricStat!.Metric.MetricName, stat, latencies, errors);
      if (value === undefined) continue;
      timestamps.push(from / 1000);
      values.push(value);
    }
    return { Id: q.Id, Label: q.Id, Timestamps: timestamps, Values: values, StatusCode: 'Complete' };
  }
}

interface MetricDataQueryJson {
  readonly Id: string;
  readonly MetricStat?: {
    readonly Metric: { readonly MetricName: string; readonly Dimensions: { Name: string; Value: string }[] };
    readonly Period: number;
    readonly Stat: string;
  };
}

const STAT = /^(Sum|SampleCount|p\d{1,2}(\.\d+)?|PR\(:\d+(\.\d{1,10})?\))$/;

function epochMs(value: unknown): number {
  // The JSON protocol sends timestamps as epoch seconds.
  return typeof value === 'number' ? value * 1000 : Date.parse(String(value));
}

function statistic(metric: string, stat: string, latencies: number[], errors: number): number | undefined {
  if (metric === 'Invocations' && stat === 'Sum') return latencies.length;
  if (metric === 'Invocation5XXErrors' && stat === 'Sum') return errors;
  if (metric !== 'ModelLatency' || latencies.length === 0) return undefined;
  if (stat === 'SampleCount') return latencies.length;
  const rank = /^PR\(:(.+)\)$/.exec(stat);
  if (rank) return (100 * latencies.filter((x) => x <= Number(rank[1])).length) / latencies.length;
  const q = Number(stat.slice(1)) / 100;
  return latencies[Math.max(0, Math.ceil(q * latencies.length) - 1)];
}

/** `count` lognormal latencies in µs with median `medianMs` and σ `sigma`, from a seeded generator. */
export function lognormalLatenciesUs(count: number, medianMs: number, sigma: number, seed: number): number[] {
  const random = mulberry32(seed);
  return Array.from({ length: count }, () => {
    const u = 1 - random();
    const v = random();
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    // Whole microseconds, as SageMaker publishes them.
    return Math.round(medianMs * 1000 * Math.exp(sigma * z));
  });
}

/** Φ, the standard normal CDF (Abramowitz and Stegun 7.1.26, error below 1.5e-7). */
function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly =
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/**
 * How many of `count` lognormal latencies with that p50 and p99 are at or below each threshold (same
 * unit): the `atOrBelow` of a minute whose percentiles a fake states directly.
 */
export function lognormalAtOrBelow(
  count: number,
  p50: number,
  p99: number,
  thresholds: readonly number[],
): number[] {
  const sigma = Math.log(p99 / p50) / 2.3263478740408408;
  return thresholds.map((v) => Math.round(count * normalCdf(Math.log(v / p50) / sigma)));
}
