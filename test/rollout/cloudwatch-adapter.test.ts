import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import {
  atOrBelowStat,
  CloudWatchRolloutMetrics,
  countAtOrBelow,
  formatThreshold,
  metricDataQueries,
  referenceQueries,
  toPeriods,
  toReference,
  type VariantMetricsQuery,
} from '../../services/rollout/adapters/cloudwatch';
import { latencyThresholds } from '../../services/rollout/judge';
import { PROD_ROLLOUT_POLICY } from '../../services/rollout/policy';
import { startCloudWatchStandIn, type CloudWatchStandIn } from '../support/aws-json-stand-ins';
import { localCredentials, localRegion } from '../support/local-aws';
import { lognormalLatenciesUs, SageMakerMetrics } from '../support/sagemaker-metrics';

const T0 = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;

/** The MetricStat of one SageMaker statistic of endpoint `ep`'s canary VariantB, per minute. */
function variantStat(metricName: string, stat: string) {
  return {
    Metric: {
      Namespace: 'AWS/SageMaker',
      MetricName: metricName,
      Dimensions: [
        { Name: 'EndpointName', Value: 'ep' },
        { Name: 'VariantName', Value: 'VariantB' },
      ],
    },
    Period: 60,
    Stat: stat,
  };
}

/** Five minutes of endpoint `ep`'s two variants. */
const query: VariantMetricsQuery = {
  endpointName: 'ep',
  baselineVariant: 'VariantA',
  canaryVariant: 'VariantB',
  start: new Date(T0),
  end: new Date(T0 + 5 * MINUTE),
  periodSeconds: 60,
};

describe('CloudWatch adapter mapping', () => {
  it('asks for counts, p50/p99 and the sample count of ModelLatency for both variants at 60 s', () => {
    const queries = metricDataQueries(query);
    expect(queries.map((q) => q.Id)).toEqual([
      'baseline_invocations',
      'baseline_errors',
      'baseline_p50',
      'baseline_p99',
      'baseline_latencysamples',
      'canary_invocations',
      'canary_errors',
      'canary_p50',
      'canary_p99',
      'canary_latencysamples',
    ]);
    const canaryErrors = queries[6].MetricStat!;
    expect(canaryErrors).toEqual(variantStat('Invocation5XXErrors', 'Sum'));
    expect(queries.slice(7, 10).map((q) => [q.MetricStat!.Metric!.MetricName, q.MetricStat!.Stat])).toEqual([
      ['ModelLatency', 'p50'],
      ['ModelLatency', 'p99'],
      ['ModelLatency', 'SampleCount'],
    ]);
  });

  it('joins results per period, turns ModelLatency µs into ms and keeps missing datapoints as null', () => {
    const t0 = new Date(T0);
    const t1 = new Date(T0 + MINUTE);
    const periods = toPeriods([
      { Id: 'baseline_invocations', Timestamps: [t1, t0], Values: [200, 100] },
      { Id: 'baseline_errors', Timestamps: [t0, t1], Values: [1, 0] },
      { Id: 'canary_invocations', Timestamps: [t0, t1], Values: [10, 12] },
      { Id: 'canary_errors', Timestamps: [t1], Values: [2] },
      { Id: 'canary_p50', Timestamps: [t0], Values: [41_500] },
      { Id: 'canary_p99', Timestamps: [t0], Values: [250_000] },
      { Id: 'canary_latencysamples', Timestamps: [t0], Values: [10] },
    ]);
    const none = { p50: null, p99: null, latencySamples: null };
    expect(periods).toEqual([
      {
        start: T0,
        baseline: { invocations: 100, errors: 1, ...none },
        canary: { invocations: 10, errors: null, p50: 41.5, p99: 250, latencySamples: 10 },
      },
      {
        start: T0 + MINUTE,
        baseline: { invocations: 200, errors: 0, ...none },
        canary: { invocations: 12, errors: 2, ...none },
      },
    ]);
  });
});

describe('latency thresholds as CloudWatch statistics', () => {
  it('writes a threshold in microseconds as a plain decimal of at most 10 places', () => {
    expect(formatThreshold(22_907.778000000002)).toBe('22907.778');
    expect(formatThreshold(41_234)).toBe('41234');
    // String(1e-7) is "1e-7", which is not a number in CloudWatch's statistic syntax.
    expect(formatThreshold(1e-7)).toBe('0.0000001');
    expect(formatThreshold(1.23456789012345)).toBe('1.2345678901');
    expect(formatThreshold(0)).toBe('0');
    expect(() => formatThreshold(Number.NaN)).toThrow(RangeError);
    expect(() => formatThreshold(-1)).toThrow(RangeError);
  });

  it('asks ModelLatency PR(:v) per threshold and variant, with ids CloudWatch accepts, at the query period', () => {
    const thresholds = latencyThresholds(PROD_ROLLOUT_POLICY, { p50: 41.234, p99: 402.5, periodStart: T0 });
    expect(thresholds.values).toEqual([41.234, 49.4808, 57.7276, 74.2212, 402.5, 603.75, 805]);
    const queries = metricDataQueries({ ...query, latencyThresholdsMs: thresholds.values });
    expect(queries).toHaveLength(2 * (5 + 7));
    for (const q of queries) expect(q.Id).toMatch(/^[a-z][a-zA-Z0-9_]*$/);
    const counts = queries.filter((q) => q.Id!.includes('_le_'));
    const stats = ['41234', '49480.8', '57727.6', '74221.2', '402500', '603750', '805000'].map(
      (v) => `PR(:${v})`,
    );
    expect(counts.map((q) => [q.Id, q.MetricStat!.Stat])).toEqual([
      ...stats.map((stat, i) => [`baseline_le_${i}`, stat]),
      ...stats.map((stat, i) => [`canary_le_${i}`, stat]),
    ]);
    expect(counts[7].MetricStat).toEqual(variantStat('ModelLatency', 'PR(:41234)'));
    expect(atOrBelowStat(0.0001)).toBe('PR(:0.1)');
  });

  it('turns a percentile rank into a whole count of samples, null without the rank or the sample count', () => {
    expect(countAtOrBelow(100 / 3, 3)).toBe(1);
    expect(countAtOrBelow(66.66666666666667, 3)).toBe(2);
    // CloudWatch's percentages are approximate: the nearest whole count.
    expect(countAtOrBelow(49.9, 2)).toBe(1);
    expect(countAtOrBelow(0.04, 1000)).toBe(0);
    expect(countAtOrBelow(100, 600)).toBe(600);
    expect(countAtOrBelow(null, 600)).toBeNull();
    expect(countAtOrBelow(50, null)).toBeNull();
    expect(countAtOrBelow(100.5, 10)).toBeNull();
    expect(countAtOrBelow(-1, 10)).toBeNull();
  });

  it('joins the counts into atOrBelow in threshold order, per variant and period', () => {
    const t0 = new Date(T0);
    const t1 = new Date(T0 + MINUTE);
    const periods = toPeriods(
      [
        { Id: 'baseline_invocations', Timestamps: [t0, t1], Values: [600, 3] },
        { Id: 'baseline_errors', Timestamps: [t0, t1], Values: [0, 0] },
        { Id: 'baseline_latencysamples', Timestamps: [t0, t1], Values: [600, 3] },
        { Id: 'baseline_le_1', Timestamps: [t1, t0], Values: [100 / 3, 99.5] },
        { Id: 'baseline_le_0', Timestamps: [t0, t1], Values: [12.5, 0] },
        { Id: 'canary_invocations', Timestamps: [t0], Values: [30] },
        { Id: 'canary_errors', Timestamps: [t0], Values: [0] },
        // No SampleCount datapoint for the canary: no count, whatever the rank.
        { Id: 'canary_le_0', Timestamps: [t0], Values: [50] },
      ],
      2,
    );
    expect(periods.map((p) => [p.baseline.atOrBelow, p.canary.atOrBelow])).toEqual([
      [
        [75, 597],
        [null, null],
      ],
      [
        [0, 1],
        [null, null],
      ],
    ]);
  });

  it('reads the reference from the baseline over the hour before the rollout, in ms', () => {
    const queries = referenceQueries({ endpointName: 'ep', variant: 'VariantA', rolloutStartedAt: T0 });
    expect(
      queries.map((q) => [q.Id, q.MetricStat!.Metric!.MetricName, q.MetricStat!.Stat, q.MetricStat!.Period]),
    ).toEqual([
      ['reference_p50', 'ModelLatency', 'p50', 3600],
      ['reference_p99', 'ModelLatency', 'p99', 3600],
      ['reference_samplecount', 'ModelLatency', 'SampleCount', 3600],
      ['reference_invocations', 'Invocations', 'Sum', 60],
      ['reference_errors', 'Invocation5XXErrors', 'Sum', 60],
    ]);
    expect(queries[0].MetricStat!.Metric!.Dimensions).toEqual([
      { Name: 'EndpointName', Value: 'ep' },
      { Name: 'VariantName', Value: 'VariantA' },
    ]);
    const start = new Date(T0 - 3600_000);
    const minute = (m: number) => new Date(start.getTime() + m * 60_000);
    /** The latency reference answers at `at`, p50/p99 in µs, and three minutes of sums. */
    const answers = (at: Date, p50Us: number, p99Us: number) => [
      { Id: 'reference_p50', Timestamps: [at], Values: [p50Us] },
      { Id: 'reference_p99', Timestamps: [at], Values: [p99Us] },
      { Id: 'reference_samplecount', Timestamps: [at], Values: [34_200] },
      // Newest first, as another ScanBy would answer; minute 2 has requests but no error datapoint.
      { Id: 'reference_invocations', Timestamps: [minute(2), minute(1), minute(0)], Values: [580, 570, 560] },
      { Id: 'reference_errors', Timestamps: [minute(1), minute(0)], Values: [3, 2] },
    ];
    expect(toReference(answers(start, 41_500, 390_000), start)).toEqual({
      p50: 41.5,
      p99: 390,
      periodStart: T0 - 3600_000,
      samples: 34_200,
      minutes: [
        { invocations: 560, errors: 2 },
        { invocations: 570, errors: 3 },
      ],
    });
    // A query's datapoints split over two pages are one series.
    const paged = [
      ...answers(start, 41_500, 390_000).slice(0, 3),
      { Id: 'reference_invocations', Timestamps: [minute(0)], Values: [560] },
      { Id: 'reference_errors', Timestamps: [minute(0)], Values: [2] },
      { Id: 'reference_invocations', Timestamps: [minute(1)], Values: [570] },
      { Id: 'reference_errors', Timestamps: [minute(1)], Values: [3] },
    ];
    expect(toReference(paged, start)?.minutes).toHaveLength(2);
    // Without the sums the latency reference stands, with no minutes to go with it.
    expect(toReference(answers(start, 41_500, 390_000).slice(0, 3), start)?.minutes).toEqual([]);
    // No datapoint, a datapoint of another period, or figures that are no latency: no reference.
    expect(toReference([{ Id: 'reference_p50', Timestamps: [], Values: [] }], start)).toBeNull();
    expect(toReference(answers(new Date(T0), 41_500, 390_000), start)).toBeNull();
    expect(toReference(answers(start, 41_500, 40_000), start)).toBeNull();
  });
});

describe('CloudWatch adapter on the wire', () => {
  const rolloutStartedAt = T0 + 20_000;
  const world = new SageMakerMetrics();
  let cloudwatch: CloudWatchStandIn;
  let metrics: CloudWatchRolloutMetrics;

  beforeAll(async () => {
    // The baseline's hour before the rollout and five rollout minutes of both variants.
    for (let m = -60; m < 5; m += 1) {
      const start = T0 + m * MINUTE;
      // The hour before: 2 errors every tenth minute, 12 in all.
      const errors = m >= 0 ? 3 : m % 10 === 0 ? 2 : 0;
      world.record('VariantA', start, lognormalLatenciesUs(570, 40, 1, 1000 + m), errors);
      if (m >= 0) world.record('VariantB', start, lognormalLatenciesUs(30, 48, 1, 2000 + m), 0);
    }
    // Before the hour: not part of the reference.
    world.record('VariantA', T0 - 61 * MINUTE, lognormalLatenciesUs(570, 400, 1, 7));
    cloudwatch = await startCloudWatchStandIn({}, (input) => world.answer(input));
    metrics = new CloudWatchRolloutMetrics(
      new CloudWatchClient({ endpoint: cloudwatch.url, region: localRegion, credentials: localCredentials }),
    );
  });

  afterAll(() => cloudwatch.close());
  beforeEach(() => cloudwatch.calls.splice(0));

  const nearestRank = (sorted: number[], q: number) => sorted[Math.ceil(q * sorted.length) - 1] / 1000;

  it('reads the hour before the rollout as one 3600 s datapoint of the baseline', async () => {
    const reference = await metrics.latencyReference({
      endpointName: 'ep',
      variant: 'VariantA',
      rolloutStartedAt,
    });
    const hour = world.latencies('VariantA', T0 - 60 * MINUTE, T0);
    expect(hour).toHaveLength(60 * 570);
    expect(reference).toEqual({
      p50: nearestRank(hour, 0.5),
      p99: nearestRank(hour, 0.99),
      periodStart: T0 - 60 * MINUTE,
      samples: 60 * 570,
      // Every minute of the hour, 2 errors in every tenth.
      minutes: Array.from({ length: 60 }, (_, i) => ({
        invocations: 570,
        errors: (i - 60) % 10 === 0 ? 2 : 0,
      })),
    });
    expect(cloudwatch.calls).toHaveLength(1);
    expect(cloudwatch.calls[0].input).toMatchObject({
      StartTime: (T0 - 3600_000) / 1000,
      EndTime: T0 / 1000,
    });
    expect(
      (cloudwatch.calls[0].input.MetricDataQueries as { MetricStat: { Period: number } }[]).map(
        (q) => q.MetricStat.Period,
      ),
    ).toEqual([3600, 3600, 3600, 60, 60]);
  });

  it('answers null for a variant without traffic in that hour', async () => {
    await expect(
      metrics.latencyReference({ endpointName: 'ep', variant: 'VariantB', rolloutStartedAt }),
    ).resolves.toBeNull();
  });

  it('counts every minute’s samples at or below each threshold, as CloudWatch ranks them', async () => {
    const thresholdsMs = [20, 40, 41.234567, 400];
    const periods = await metrics.variantMetrics({ ...query, latencyThresholdsMs: thresholdsMs });
    expect(periods.map((p) => p.start)).toEqual([0, 1, 2, 3, 4].map((m) => T0 + m * MINUTE));
    for (const period of periods) {
      for (const [role, variant] of [
        ['baseline', 'VariantA'],
        ['canary', 'VariantB'],
      ] as const) {
        const samples = world.latencies(variant, period.start, period.start + MINUTE);
        expect(period[role].latencySamples).toBe(samples.length);
        expect(period[role].atOrBelow).toEqual(
          thresholdsMs.map((v) => samples.filter((x) => x <= v * 1000).length),
        );
      }
    }
  });

  it('splits more than 500 queries over several calls and joins them', async () => {
    const thresholdsMs = Array.from({ length: 300 }, (_, i) => 1 + i);
    const periods = await metrics.variantMetrics({
      endpointName: 'ep',
      baselineVariant: 'VariantA',
      canaryVariant: 'VariantB',
      start: new Date(T0),
      end: new Date(T0 + MINUTE),
      periodSeconds: 60,
      latencyThresholdsMs: thresholdsMs,
    });
    expect(cloudwatch.calls.map((c) => (c.input.MetricDataQueries as unknown[]).length)).toEqual([500, 110]);
    const samples = world.latencies('VariantB', T0, T0 + MINUTE);
    expect(periods[0].canary.atOrBelow).toEqual(
      thresholdsMs.map((v) => samples.filter((x) => x <= v * 1000).length),
    );
  });
});

describe('prediction-quality counts', () => {
  const quality = { namespace: 'MlInference', classes: ['setosa', 'versicolor'] };
  const query = {
    endpointName: 'ep',
    baselineVariant: 'VariantA',
    canaryVariant: 'VariantB',
    start: new Date(0),
    end: new Date(120_000),
    periodSeconds: 60,
    quality,
  };

  it('asks for each variant’s labelled, correct and per-class counts in the same call as the minutes', () => {
    const queries = metricDataQueries(query);
    const byId = new Map(queries.map((q) => [q.Id, q.MetricStat]));
    expect(byId.get('canary_labelled')).toMatchObject({
      Metric: {
        Namespace: 'MlInference',
        MetricName: 'LabelledAnswers',
        Dimensions: [
          { Name: 'EndpointName', Value: 'ep' },
          { Name: 'VariantName', Value: 'VariantB' },
        ],
      },
      Stat: 'Sum',
    });
    expect(byId.get('baseline_class_1')?.Metric).toEqual({
      Namespace: 'MlInference',
      MetricName: 'PredictionsByClass',
      Dimensions: [
        { Name: 'service', Value: 'predict' },
        { Name: 'EndpointName', Value: 'ep' },
        { Name: 'VariantName', Value: 'VariantA' },
        { Name: 'PredictedClass', Value: 'versicolor' },
      ],
    });
    expect(queries).toHaveLength(2 * (5 + 2 + 2));
  });

  it('joins them into the periods, a class without a datapoint left null', () => {
    const at = [new Date(0)];
    const periods = toPeriods(
      [
        { Id: 'canary_labelled', Timestamps: at, Values: [3] },
        { Id: 'canary_correct', Timestamps: at, Values: [0] },
        { Id: 'canary_class_0', Timestamps: at, Values: [40] },
        { Id: 'baseline_class_1', Timestamps: at, Values: [7] },
      ],
      0,
      2,
    );
    expect(periods[0].canary).toMatchObject({ labelled: 3, correct: 0, predicted: [40, null] });
    expect(periods[0].baseline).toMatchObject({ labelled: null, correct: null, predicted: [null, 7] });
  });
});
