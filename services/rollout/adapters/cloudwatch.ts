import {
  CloudWatchClient,
  DescribeAlarmsCommand,
  GetMetricDataCommand,
  type MetricDataQuery,
  type MetricDataResult,
} from '@aws-sdk/client-cloudwatch';
import type {
  AlarmObservation,
  AlarmStateValue,
  BaselineMinute,
  PeriodMetrics,
  VariantPeriodMetrics,
} from '../judge';
import { referenceWindow, type MeasuredLatencyReference } from '../latency-reference';
import {
  CORRECT_ANSWERS_METRIC,
  LABELLED_ANSWERS_METRIC,
  PREDICT_SERVICE,
  PREDICTIONS_BY_CLASS_METRIC,
  type QualityMetricsSource,
} from '../quality-metrics';

/** Which endpoint variants to read and over which closed periods. */
export interface VariantMetricsQuery {
  readonly endpointName: string;
  readonly baselineVariant: string;
  readonly canaryVariant: string;
  /** Inclusive start of the first period. */
  readonly start: Date;
  /** Exclusive end of the last period. */
  readonly end: Date;
  readonly periodSeconds: number;
  /**
   * `ModelLatency` thresholds in milliseconds (`latencyThresholds(policy, reference).values`): each
   * period then carries, per variant, how many samples were at or below each one (`atOrBelow`).
   * @default none (no `atOrBelow`)
   */
  readonly latencyThresholdsMs?: readonly number[];
  /**
   * Where the prediction-quality counts are: each period then carries, per variant, `labelled`,
   * `correct` and `predicted` (one count per class, in order). @default none
   */
  readonly quality?: QualityMetricsSource;
}

/** Which variant's latency reference to read, and the rollout it is for. */
export interface LatencyReferenceQuery {
  readonly endpointName: string;
  /** The baseline variant: the reference describes the model in production. */
  readonly variant: string;
  /** When the rollout started; the reference is the hour before it (`referenceWindow`). */
  readonly rolloutStartedAt: number;
}

/** What the judge needs from CloudWatch; the handler depends on this, tests substitute a fake. */
export interface RolloutMetrics {
  /** States of the named alarms; an alarm CloudWatch does not know comes back as MISSING. */
  alarmStates(names: readonly string[]): Promise<AlarmObservation[]>;
  /** Per-period Invocations, Invocation5XXErrors and ModelLatency (p50, p99 in ms, SampleCount) of both variants. */
  variantMetrics(query: VariantMetricsQuery): Promise<PeriodMetrics[]>;
  /**
   * The variant's `ModelLatency` p50 and p99 (ms) and SampleCount over the hour before the rollout,
   * one datapoint of `referenceWindow`, with its per-minute Invocations and Invocation5XXErrors;
   * null when that hour has no latency (no traffic).
   */
  latencyReference(query: LatencyReferenceQuery): Promise<MeasuredLatencyReference | null>;
}

/** GetMetricData accepts at most this many queries per call. */
export const MAX_QUERIES_PER_CALL = 500;

/**
 * A `ModelLatency` threshold in microseconds (what SageMaker publishes) as CloudWatch's statistic
 * syntax takes it: a plain decimal with at most 10 decimal places, never an exponent (`1e-7`,
 * which `String(number)` would give, is not a number to CloudWatch's parser).
 */
export function formatThreshold(microseconds: number): string {
  if (!Number.isFinite(microseconds) || microseconds < 0 || microseconds >= 1e21) {
    throw new RangeError(`latency threshold must be a finite, non-negative number, got ${microseconds}`);
  }
  const fixed = microseconds.toFixed(10);
  return fixed.replace(/\.?0+$/, '');
}

/** The percentile-rank statistic of samples at or below `thresholdMs`: `PR(:<µs>)`. */
export function atOrBelowStat(thresholdMs: number): string {
  return `PR(:${formatThreshold(thresholdMs * 1000)})`;
}

/**
 * What the judge reads per variant and period. `ModelLatency` is published in microseconds; `scale`
 * turns the percentiles into milliseconds. SampleCount tells how many requests the percentiles
 * describe, and lets the judge see a period whose latency is not fully aggregated yet.
 */
const METRICS = [
  { key: 'invocations', metric: 'Invocations', stat: 'Sum', scale: 1 },
  { key: 'errors', metric: 'Invocation5XXErrors', stat: 'Sum', scale: 1 },
  { key: 'p50', metric: 'ModelLatency', stat: 'p50', scale: 1 / 1000 },
  { key: 'p99', metric: 'ModelLatency', stat: 'p99', scale: 1 / 1000 },
  { key: 'latencySamples', metric: 'ModelLatency', stat: 'SampleCount', scale: 1 },
] as const;

type MetricKey = (typeof METRICS)[number]['key'];

const ROLES = ['baseline', 'canary'] as const;

type Role = (typeof ROLES)[number];

function queryId(role: Role, key: MetricKey): string {
  return `${role}_${key}`.toLowerCase();
}

/** Id of the count query of threshold `index` (GetMetricData ids: `^[a-z][a-zA-Z0-9_]*$`). */
function thresholdId(role: Role, index: number): string {
  return `${role}_le_${index}`;
}

const THRESHOLD_ID = /^(baseline|canary)_le_(\d+)$/;

function metricQuery(
  id: string,
  endpointName: string,
  variant: string,
  metric: string,
  stat: string,
  periodSeconds: number,
): MetricDataQuery {
  return {
    Id: id,
    ReturnData: true,
    MetricStat: {
      Metric: {
        Namespace: 'AWS/SageMaker',
        MetricName: metric,
        Dimensions: [
          { Name: 'EndpointName', Value: endpointName },
          { Name: 'VariantName', Value: variant },
        ],
      },
      Period: periodSeconds,
      Stat: stat,
    },
  };
}

/** A Sum per period of one of the stage's own metrics (the quality counts). */
function customQuery(
  id: string,
  namespace: string,
  metric: string,
  dimensions: Record<string, string>,
  periodSeconds: number,
): MetricDataQuery {
  return {
    Id: id,
    ReturnData: true,
    MetricStat: {
      Metric: {
        Namespace: namespace,
        MetricName: metric,
        Dimensions: Object.entries(dimensions).map(([Name, Value]) => ({ Name, Value })),
      },
      Period: periodSeconds,
      Stat: 'Sum',
    },
  };
}

const CLASS_ID = /^(baseline|canary)_class_(\d+)$/;
const QUALITY_KEYS = { labelled: LABELLED_ANSWERS_METRIC, correct: CORRECT_ANSWERS_METRIC } as const;

/** A variant's quality queries: labelled and correct answers, and answers per class (`canary_class_0`, ...). */
function qualityQueries(query: VariantMetricsQuery, role: Role, variant: string): MetricDataQuery[] {
  const source = query.quality;
  if (!source) return [];
  const where = { EndpointName: query.endpointName, VariantName: variant };
  return [
    ...Object.entries(QUALITY_KEYS).map(([key, metric]) =>
      customQuery(`${role}_${key}`, source.namespace, metric, where, query.periodSeconds),
    ),
    ...source.classes.map((label, i) =>
      customQuery(
        `${role}_class_${i}`,
        source.namespace,
        PREDICTIONS_BY_CLASS_METRIC,
        { service: PREDICT_SERVICE, ...where, PredictedClass: label },
        query.periodSeconds,
      ),
    ),
  ];
}

/**
 * The GetMetricData queries of the per-variant metrics: 5 SageMaker statistics per variant, one
 * `PR(:v)` of `ModelLatency` per latency threshold (`baseline_le_0`, `canary_le_0`, ...), and with
 * `quality` the labelled, correct and per-class counts, all in one call while under 500 queries.
 */
export function metricDataQueries(query: VariantMetricsQuery): MetricDataQuery[] {
  const thresholds = query.latencyThresholdsMs ?? [];
  return ROLES.flatMap((role) => {
    const variant = role === 'baseline' ? query.baselineVariant : query.canaryVariant;
    return [
      ...qualityQueries(query, role, variant),
      ...METRICS.map(({ key, metric, stat }) =>
        metricQuery(queryId(role, key), query.endpointName, variant, metric, stat, query.periodSeconds),
      ),
      ...thresholds.map((ms, i) =>
        metricQuery(
          thresholdId(role, i),
          query.endpointName,
          variant,
          'ModelLatency',
          atOrBelowStat(ms),
          query.periodSeconds,
        ),
      ),
    ];
  });
}

/**
 * The reference's queries over one hour: the variant's `ModelLatency` p50, p99 and SampleCount as one
 * 3600 s datapoint each, and its Invocations and Invocation5XXErrors sums minute by minute (the
 * baseline's error rate and error bursts before the rollout). One GetMetricData call.
 */
export function referenceQueries(query: LatencyReferenceQuery): MetricDataQuery[] {
  const { periodSeconds } = referenceWindow(query.rolloutStartedAt);
  const latency = (['p50', 'p99', 'SampleCount'] as const).map((stat) =>
    metricQuery(
      `reference_${stat.toLowerCase()}`,
      query.endpointName,
      query.variant,
      'ModelLatency',
      stat,
      periodSeconds,
    ),
  );
  return [
    ...latency,
    metricQuery('reference_invocations', query.endpointName, query.variant, 'Invocations', 'Sum', 60),
    metricQuery('reference_errors', query.endpointName, query.variant, 'Invocation5XXErrors', 'Sum', 60),
  ];
}

/**
 * The reference from the answer to `referenceQueries`: the datapoint at the window's start, in ms.
 * Null without one, or when it is not a latency (not positive, p99 below p50).
 */
export function toReference(
  results: readonly MetricDataResult[],
  windowStart: Date,
): MeasuredLatencyReference | null {
  const at = (id: string): number | null => series(results, id).get(windowStart.getTime()) ?? null;
  const p50 = at('reference_p50');
  const p99 = at('reference_p99');
  const samples = at('reference_samplecount');
  if (p50 === null || p99 === null || p50 <= 0 || p99 < p50 || samples === null || samples < 1) return null;
  return {
    p50: p50 / 1000,
    p99: p99 / 1000,
    periodStart: windowStart.getTime(),
    samples,
    minutes: minutesOf(results),
  };
}

/** One query's datapoints, merged over pages: epoch ms → value. */
function series(results: readonly MetricDataResult[], id: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const result of results.filter((r) => r.Id === id)) {
    (result.Timestamps ?? []).forEach((t, i) => {
      const value = result.Values?.[i];
      if (typeof value === 'number' && Number.isFinite(value)) out.set(new Date(t).getTime(), value);
    });
  }
  return out;
}

/**
 * The hour's minutes with both sums, oldest first. A minute with requests but no error datapoint is
 * left out rather than read as error-free; one with neither had no traffic.
 */
function minutesOf(results: readonly MetricDataResult[]): BaselineMinute[] {
  const invocations = series(results, 'reference_invocations');
  const errors = series(results, 'reference_errors');
  return [...invocations.entries()]
    .filter(([t]) => errors.has(t))
    .sort(([a], [b]) => a - b)
    .map(([t, n]) => ({ invocations: n, errors: errors.get(t) ?? 0 }));
}

/**
 * Samples at or below a threshold from its percentile rank: PR (percent of samples <= v) × SampleCount
 * ÷ 100, rounded (CloudWatch answers the percentage as a decimal). Null when either is missing or
 * is not a percentage and a count.
 */
export function countAtOrBelow(percentRank: number | null, sampleCount: number | null): number | null {
  if (percentRank === null || sampleCount === null) return null;
  if (!Number.isFinite(percentRank) || percentRank < 0 || percentRank > 100) return null;
  if (!Number.isFinite(sampleCount) || sampleCount < 0) return null;
  return Math.round((percentRank / 100) * sampleCount);
}

interface RawVariant {
  readonly figures: Record<MetricKey, number | null>;
  /** `PR(:v)` per threshold, percent. */
  readonly ranks: (number | null)[];
  readonly quality: { labelled: number | null; correct: number | null; predicted: (number | null)[] };
}

/**
 * Joins GetMetricData results into one record per period. A metric without a datapoint for a period
 * stays `null`, so the judge can tell "no datapoint" from "zero". With `thresholdCount` > 0 every
 * variant also gets `atOrBelow`, one count per threshold in order (`countAtOrBelow`).
 */
export function toPeriods(
  results: readonly MetricDataResult[],
  thresholdCount = 0,
  classCount?: number,
): PeriodMetrics[] {
  const empty = (): RawVariant => ({
    figures: { invocations: null, errors: null, p50: null, p99: null, latencySamples: null },
    ranks: Array.from({ length: thresholdCount }, () => null),
    quality: {
      labelled: null,
      correct: null,
      predicted: Array.from({ length: classCount ?? 0 }, () => null),
    },
  });
  const byStart = new Map<number, Record<Role, RawVariant>>();
  const rowAt = (start: number) => {
    const row = byStart.get(start) ?? { baseline: empty(), canary: empty() };
    byStart.set(start, row);
    return row;
  };
  const valueOf = (result: MetricDataResult, i: number): number | null => {
    const value = result.Values?.[i];
    return typeof value === 'number' ? value : null;
  };
  for (const result of results) {
    const perClass = CLASS_ID.exec(result.Id ?? '');
    const quality = /^(baseline|canary)_(labelled|correct)$/.exec(result.Id ?? '');
    if (perClass || quality) {
      (result.Timestamps ?? []).forEach((timestamp, i) => {
        const raw = rowAt(new Date(timestamp).getTime());
        if (perClass && Number(perClass[2]) < (classCount ?? 0)) {
          raw[perClass[1] as Role].quality.predicted[Number(perClass[2])] = valueOf(result, i);
        } else if (quality) {
          raw[quality[1] as Role].quality[quality[2] as 'labelled' | 'correct'] = valueOf(result, i);
        }
      });
      continue;
    }
    const threshold = THRESHOLD_ID.exec(result.Id ?? '');
    if (threshold) {
      const role = threshold[1] as Role;
      const index = Number(threshold[2]);
      if (index >= thresholdCount) continue;
      (result.Timestamps ?? []).forEach((timestamp, i) => {
        rowAt(new Date(timestamp).getTime())[role].ranks[index] = valueOf(result, i);
      });
      continue;
    }
    const role = ROLES.find((r) => result.Id?.startsWith(`${r}_`));
    const metric = METRICS.find((m) => result.Id === queryId(role ?? 'baseline', m.key));
    if (!role || !metric) continue;
    (result.Timestamps ?? []).forEach((timestamp, i) => {
      const value = valueOf(result, i);
      rowAt(new Date(timestamp).getTime())[role].figures[metric.key] =
        value === null ? null : value * metric.scale;
    });
  }
  // CloudWatch has no datapoint for a minute without labelled answers or predictions of a class: none.
  const variant = (raw: RawVariant): VariantPeriodMetrics => ({
    ...raw.figures,
    ...(thresholdCount === 0
      ? {}
      : { atOrBelow: raw.ranks.map((rank) => countAtOrBelow(rank, raw.figures.latencySamples)) }),
    ...(classCount === undefined ? {} : raw.quality),
  });
  return [...byStart.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([start, row]) => ({ start, baseline: variant(row.baseline), canary: variant(row.canary) }));
}

const STATES: readonly AlarmStateValue[] = ['OK', 'ALARM', 'INSUFFICIENT_DATA'];

/** CloudWatch-backed RolloutMetrics; create once per Lambda container. */
export class CloudWatchRolloutMetrics implements RolloutMetrics {
  constructor(private readonly client: CloudWatchClient) {}

  async alarmStates(names: readonly string[]): Promise<AlarmObservation[]> {
    if (names.length === 0) return [];
    const found = new Map<string, AlarmStateValue>();
    let nextToken: string | undefined;
    do {
      const page = await this.client.send(
        new DescribeAlarmsCommand({
          AlarmNames: [...names],
          AlarmTypes: ['MetricAlarm', 'CompositeAlarm'],
          NextToken: nextToken,
        }),
      );
      for (const alarm of [...(page.MetricAlarms ?? []), ...(page.CompositeAlarms ?? [])]) {
        const state = STATES.find((s) => s === alarm.StateValue);
        if (alarm.AlarmName && state) found.set(alarm.AlarmName, state);
      }
      nextToken = page.NextToken;
    } while (nextToken);
    return names.map((name) => ({ name, state: found.get(name) ?? 'MISSING' }));
  }

  async variantMetrics(query: VariantMetricsQuery): Promise<PeriodMetrics[]> {
    const results = await this.metricData(metricDataQueries(query), query.start, query.end);
    return toPeriods(results, query.latencyThresholdsMs?.length ?? 0, query.quality?.classes.length);
  }

  async latencyReference(query: LatencyReferenceQuery): Promise<MeasuredLatencyReference | null> {
    const window = referenceWindow(query.rolloutStartedAt);
    const results = await this.metricData(referenceQueries(query), window.start, window.end);
    return toReference(results, window.start);
  }

  /** All pages of the queries' results, at most MAX_QUERIES_PER_CALL queries per call. */
  private async metricData(
    queries: readonly MetricDataQuery[],
    start: Date,
    end: Date,
  ): Promise<MetricDataResult[]> {
    const results: MetricDataResult[] = [];
    for (let from = 0; from < queries.length; from += MAX_QUERIES_PER_CALL) {
      let nextToken: string | undefined;
      do {
        const page = await this.client.send(
          new GetMetricDataCommand({
            MetricDataQueries: queries.slice(from, from + MAX_QUERIES_PER_CALL),
            StartTime: start,
            EndTime: end,
            ScanBy: 'TimestampAscending',
            NextToken: nextToken,
          }),
        );
        results.push(...(page.MetricDataResults ?? []));
        nextToken = page.NextToken;
      } while (nextToken);
    }
    return results;
  }
}
