import {
  CloudWatchClient,
  DescribeAlarmsCommand,
  GetMetricDataCommand,
  type MetricDataQuery,
  type MetricDataResult,
} from '@aws-sdk/client-cloudwatch';
import type { AlarmObservation, AlarmStateValue, PeriodMetrics, VariantPeriodMetrics } from '../judge';

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
}

/** What the judge needs from CloudWatch; the handler depends on this, tests substitute a fake. */
export interface RolloutMetrics {
  /** States of the named alarms; an alarm CloudWatch does not know comes back as MISSING. */
  alarmStates(names: readonly string[]): Promise<AlarmObservation[]>;
  /** Per-period Invocations, Invocation5XXErrors and ModelLatency (p50, p99 in ms, SampleCount) of both variants. */
  variantMetrics(query: VariantMetricsQuery): Promise<PeriodMetrics[]>;
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

function queryId(role: (typeof ROLES)[number], key: MetricKey): string {
  return `${role}_${key}`.toLowerCase();
}

/** The ten GetMetricData queries (5 statistics × 2 variants) of the per-variant SageMaker metrics. */
export function metricDataQueries(query: VariantMetricsQuery): MetricDataQuery[] {
  return ROLES.flatMap((role) =>
    METRICS.map(({ key, metric, stat }) => ({
      Id: queryId(role, key),
      ReturnData: true,
      MetricStat: {
        Metric: {
          Namespace: 'AWS/SageMaker',
          MetricName: metric,
          Dimensions: [
            { Name: 'EndpointName', Value: query.endpointName },
            { Name: 'VariantName', Value: role === 'baseline' ? query.baselineVariant : query.canaryVariant },
          ],
        },
        Period: query.periodSeconds,
        Stat: stat,
      },
    })),
  );
}

/**
 * Joins GetMetricData results into one record per period. A metric without a datapoint for a period
 * stays `null`, so the judge can tell "no datapoint" from "zero".
 */
export function toPeriods(results: readonly MetricDataResult[]): PeriodMetrics[] {
  const empty = (): Record<MetricKey, number | null> => ({
    invocations: null,
    errors: null,
    p50: null,
    p99: null,
    latencySamples: null,
  });
  const byStart = new Map<number, Record<(typeof ROLES)[number], Record<MetricKey, number | null>>>();
  for (const result of results) {
    const role = ROLES.find((r) => result.Id?.startsWith(`${r}_`));
    const metric = METRICS.find((m) => result.Id === queryId(role ?? 'baseline', m.key));
    if (!role || !metric) continue;
    (result.Timestamps ?? []).forEach((timestamp, i) => {
      const start = new Date(timestamp).getTime();
      const row = byStart.get(start) ?? { baseline: empty(), canary: empty() };
      const value = result.Values?.[i];
      row[role][metric.key] = typeof value === 'number' ? value * metric.scale : null;
      byStart.set(start, row);
    });
  }
  return [...byStart.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([start, row]) => ({
      start,
      baseline: row.baseline satisfies VariantPeriodMetrics,
      canary: row.canary satisfies VariantPeriodMetrics,
    }));
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
    const results: MetricDataResult[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.client.send(
        new GetMetricDataCommand({
          MetricDataQueries: metricDataQueries(query),
          StartTime: query.start,
          EndTime: query.end,
          ScanBy: 'TimestampAscending',
          NextToken: nextToken,
        }),
      );
      results.push(...(page.MetricDataResults ?? []));
      nextToken = page.NextToken;
    } while (nextToken);
    return toPeriods(results);
  }
}
