import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import {
  CloudWatchRolloutMetrics,
  type LatencyReferenceQuery,
  type RolloutMetrics,
  type VariantMetricsQuery,
} from '../../services/rollout/adapters/cloudwatch';
import {
  judge,
  latencyThresholds,
  type AlarmObservation,
  type Evidence,
  type LatencyReference,
  type PeriodMetrics,
  type VariantPeriodMetrics,
} from '../../services/rollout/judge';
import {
  createJudgeHandler,
  InvalidJudgeInputError,
  MAX_DECISIONS,
  type JudgeInput,
} from '../../services/rollout/judge-handler';
import {
  MIN_REFERENCE_SAMPLES,
  type MeasuredLatencyReference,
} from '../../services/rollout/latency-reference';
import { PROD_ROLLOUT_POLICY } from '../../services/rollout/policy';
import { startCloudWatchStandIn, type CloudWatchStandIn } from '../support/aws-json-stand-ins';
import { localCredentials, localRegion } from '../support/local-aws';
import { lognormalAtOrBelow, lognormalLatenciesUs, SageMakerMetrics } from '../support/sagemaker-metrics';

// The real judge, watched: what the handler hands it is part of the contract.
jest.mock('../../services/rollout/judge', () => {
  const actual = jest.requireActual<typeof import('../../services/rollout/judge')>(
    '../../services/rollout/judge',
  );
  return { ...actual, judge: jest.fn(actual.judge) };
});
const judgeCalls = () =>
  (judge as jest.MockedFunction<typeof judge>).mock.calls.map(([evidence]) => evidence);

const T0 = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;

/** The baseline's hour before the rollout of `input` below. */
const HOUR_REFERENCE: LatencyReference = { p50: 40.5, p99: 395, periodStart: T0 - 60 * MINUTE };
/** The baseline's hour before the rollout: 2 % of its requests failed (the ratio margin binds). */
const HOUR: MeasuredLatencyReference = {
  ...HOUR_REFERENCE,
  samples: 36_000,
  minutes: Array.from({ length: 60 }, () => ({ invocations: 600, errors: 12 })),
};

class FakeMetrics implements RolloutMetrics {
  readonly queries: VariantMetricsQuery[] = [];
  readonly referenceQueries: LatencyReferenceQuery[] = [];
  readonly alarmNames: (readonly string[])[] = [];
  constructor(
    private readonly alarms: AlarmObservation[],
    private readonly periods: PeriodMetrics[],
    private readonly reference: MeasuredLatencyReference | null = HOUR,
  ) {}
  async latencyReference(query: LatencyReferenceQuery): Promise<MeasuredLatencyReference | null> {
    this.referenceQueries.push(query);
    return this.reference;
  }
  async alarmStates(names: readonly string[]): Promise<AlarmObservation[]> {
    this.alarmNames.push(names);
    return this.alarms;
  }
  async variantMetrics(query: VariantMetricsQuery): Promise<PeriodMetrics[]> {
    this.queries.push(query);
    const thresholds = query.latencyThresholdsMs;
    if (!thresholds) return this.periods;
    // Lognormal latencies with each minute's percentiles give its counts at the thresholds asked for.
    const counted = (v: VariantPeriodMetrics): VariantPeriodMetrics =>
      v.invocations && v.p50 && v.p99
        ? { ...v, atOrBelow: lognormalAtOrBelow(v.invocations, v.p50, v.p99, thresholds) }
        : v;
    return this.periods.map((p) => ({ ...p, baseline: counted(p.baseline), canary: counted(p.canary) }));
  }
}

function healthyPeriods(count: number): PeriodMetrics[] {
  return Array.from({ length: count }, (_, i) => ({
    start: T0 + i * MINUTE,
    baseline: { invocations: 3000, errors: 15, p50: 40 + (i % 3), p99: 400 + (i % 7) },
    canary: { invocations: 3000, errors: 15, p50: 41 - (i % 2), p99: 402 - (i % 5) },
  }));
}

const input: JudgeInput = {
  endpointName: 'inference-endpoint',
  baselineVariant: 'VariantA',
  canaryVariant: 'VariantB',
  canaryAlarmNames: ['canary-5xx'],
  stepIndex: 2,
  stepStartedAt: new Date(T0 + 10 * MINUTE).toISOString(),
  rolloutStartedAt: new Date(T0 + 20_000).toISOString(),
  policy: PROD_ROLLOUT_POLICY,
};

function setup(
  alarms: AlarmObservation[],
  periods: PeriodMetrics[],
  now = T0 + 34 * MINUTE + 5_000,
  reference: MeasuredLatencyReference | null = HOUR,
) {
  const metrics = new FakeMetrics(alarms, periods, reference);
  const logs: { message: string; attributes: Record<string, unknown> }[] = [];
  const handler = createJudgeHandler({
    metrics,
    log: { info: (message, attributes) => logs.push({ message, attributes }) },
    now: () => now,
  });
  return { handler, metrics, logs };
}

beforeEach(() => (judge as jest.MockedFunction<typeof judge>).mockClear());

describe('judge handler', () => {
  it('promotes a healthy canary to 100 % and says the rollout is done', async () => {
    const { handler, metrics } = setup([{ name: 'canary-5xx', state: 'OK' }], healthyPeriods(30));
    const output = await handler(input);
    expect(output).toMatchObject({
      verdict: 'promote',
      nextStepIndex: 3,
      weights: { VariantA: 0, VariantB: 100 },
      done: true,
      judgedAt: '2026-01-01T00:34:05.000Z',
    });
    expect(metrics.alarmNames).toEqual([['canary-5xx']]);
    expect(metrics.queries).toEqual([
      {
        endpointName: 'inference-endpoint',
        baselineVariant: 'VariantA',
        canaryVariant: 'VariantB',
        start: new Date(T0 + MINUTE),
        end: new Date(T0 + 34 * MINUTE),
        periodSeconds: 60,
        latencyThresholdsMs: latencyThresholds(PROD_ROLLOUT_POLICY, HOUR_REFERENCE).values,
      },
    ]);
  });

  it('appends this decision to the input decisions, with the newest complete minute used', async () => {
    const { handler } = setup([{ name: 'canary-5xx', state: 'OK' }], healthyPeriods(30));
    const first = await handler({ ...input, stepIndex: 1 });
    expect(first.decisions).toEqual([
      {
        judgedAt: '2026-01-01T00:34:05.000Z',
        stepIndex: 1,
        canaryWeight: 25,
        verdict: first.verdict,
        reason: first.reason,
        // Minute 29 closed at 00:30 and was published by 00:33 (publication lag 3 min).
        minute: '2026-01-01T00:29:00.000Z',
        baseline: { invocations: 3000, errors: 15, p50Ms: 42, p99Ms: 401 },
        canary: { invocations: 3000, errors: 15, p50Ms: 40, p99Ms: 398 },
      },
    ]);
    const second = await handler({ ...input, decisions: first.decisions });
    expect(second.decisions).toHaveLength(2);
    expect(second.decisions[0]).toEqual(first.decisions[0]);
    expect(second.decisions[1]).toMatchObject({ stepIndex: 2, canaryWeight: 50, verdict: 'promote' });
  });

  it('records a decision without a minute when no complete minute exists, and keeps only the newest 400', async () => {
    const { handler } = setup([{ name: 'canary-5xx', state: 'OK' }], [], T0 + 3 * MINUTE);
    const old = Array.from({ length: MAX_DECISIONS }, (_, i) => ({
      judgedAt: new Date(T0 - (MAX_DECISIONS - i) * MINUTE).toISOString(),
      stepIndex: 0,
      canaryWeight: 5,
      verdict: 'wait' as const,
      reason: `old ${i}`,
      minute: null,
      baseline: null,
      canary: null,
    }));
    const output = await handler({ ...input, stepIndex: 0, decisions: old });
    expect(output.decisions).toHaveLength(MAX_DECISIONS);
    expect(output.decisions[0].reason).toBe('old 1');
    expect(output.decisions[MAX_DECISIONS - 1]).toMatchObject({
      verdict: 'wait',
      minute: null,
      baseline: null,
      canary: null,
    });
  });

  it('rejects decisions that are not a list of records', async () => {
    const { handler } = setup([], []);
    await expect(handler({ ...input, decisions: 'none' as never })).rejects.toThrow(
      'decisions must be an array of decision records',
    );
    await expect(handler({ ...input, decisions: [42] as never })).rejects.toThrow(InvalidJudgeInputError);
  });

  it('rolls back to the baseline on a canary alarm and logs the decision with its evidence', async () => {
    const { handler, logs } = setup([{ name: 'canary-5xx', state: 'ALARM' }], healthyPeriods(30));
    const output = await handler({ ...input, stepIndex: 1 });
    expect(output).toMatchObject({ verdict: 'rollback', nextStepIndex: 1, done: true });
    expect(output.weights).toEqual({ VariantA: 100, VariantB: 0 });
    expect(logs).toHaveLength(1);
    expect(logs[0].message).toBe('rollout decision');
    expect(logs[0].attributes).toMatchObject({
      endpointName: 'inference-endpoint',
      verdict: 'rollback',
      reason: 'canary alarm in ALARM: canary-5xx',
      evidence: { alarmsInAlarm: ['canary-5xx'], periodsUsed: 29 },
      decisionCount: 1,
    });
    // The history travels in the state machine's state, not in every log line.
    expect(logs[0].attributes.decisions).toBeUndefined();
  });

  it('waits and keeps the step weights when there is no data yet', async () => {
    const { handler } = setup([{ name: 'canary-5xx', state: 'INSUFFICIENT_DATA' }], [], T0 + 3 * MINUTE);
    const output = await handler({ ...input, stepIndex: 0, stepStartedAt: T0 + 20_000 });
    expect(output).toMatchObject({ verdict: 'wait', nextStepIndex: 0, done: false });
    expect(output.weights).toEqual({ VariantA: 95, VariantB: 5 });
  });

  it('rejects input it cannot judge before calling AWS', async () => {
    const { handler, metrics } = setup([], []);
    await expect(handler({ ...input, stepIndex: 4 })).rejects.toThrow(InvalidJudgeInputError);
    await expect(handler({ ...input, rolloutStartedAt: 'yesterday' })).rejects.toThrow(
      'rolloutStartedAt must be an ISO-8601 time or epoch ms',
    );
    await expect(handler({ ...input, policy: { ...PROD_ROLLOUT_POLICY, alpha: 1 } })).rejects.toThrow(
      /Invalid rollout policy: alpha/,
    );
    expect(metrics.queries).toHaveLength(0);
    expect(metrics.referenceQueries).toHaveLength(0);
  });

  it('reads the quality counts with the minutes and rolls back a label-shifted canary, recording its accuracy', async () => {
    const quality = { namespace: 'MlInference', classes: ['a', 'b', 'c'] };
    const periods = healthyPeriods(30).map((p) => ({
      ...p,
      baseline: { ...p.baseline, labelled: 57, correct: 56, predicted: [1000, 1000, 1000] },
      canary: { ...p.canary, labelled: 3, correct: 0, predicted: [1000, 1000, 1000] },
    }));
    const { handler, metrics } = setup([{ name: 'canary-5xx', state: 'OK' }], periods);
    const output = await handler({ ...input, stepIndex: 0, quality });
    expect(metrics.queries.every((q) => q.quality?.namespace === 'MlInference')).toBe(true);
    expect(output.verdict).toBe('rollback');
    expect(output.reason).toMatch(/canary accuracy is significantly more than 1 points below baseline/);
    expect(output.decisions[0].quality).toEqual({
      accuracy: { baseline: 0.9825, canary: 0, baselineLabelled: 1653, canaryLabelled: 87 },
      distribution: {
        classes: ['a', 'b', 'c'],
        baseline: [0.3333, 0.3333, 0.3333],
        canary: [0.3333, 0.3333, 0.3333],
      },
      tv: 0,
    });
  });

  it('refuses a quality source without a namespace or with fewer than two classes', async () => {
    const { handler } = setup([{ name: 'canary-5xx', state: 'OK' }], healthyPeriods(30));
    await expect(handler({ ...input, quality: { namespace: '', classes: ['a', 'b'] } })).rejects.toThrow(
      /quality must be/,
    );
    await expect(handler({ ...input, quality: { namespace: 'X', classes: ['a'] } })).rejects.toThrow(
      /quality must be/,
    );
  });
});

describe('latency reference', () => {
  const ok: AlarmObservation[] = [{ name: 'canary-5xx', state: 'OK' }];
  const thresholdsOf = (reference: LatencyReference) =>
    latencyThresholds(PROD_ROLLOUT_POLICY, reference).values;

  it('reads the baseline hour before the rollout, counts against its thresholds and reports it', async () => {
    const { handler, metrics, logs } = setup(ok, healthyPeriods(30));
    const output = await handler(input);
    expect(metrics.referenceQueries).toEqual([
      { endpointName: 'inference-endpoint', variant: 'VariantA', rolloutStartedAt: T0 + 20_000 },
    ]);
    expect(metrics.queries.map((q) => q.latencyThresholdsMs)).toEqual([thresholdsOf(HOUR_REFERENCE)]);
    expect(judgeCalls().map((e) => e.latencyReference)).toEqual([HOUR_REFERENCE]);
    const record = {
      source: 'pre-rollout-hour',
      periodStart: '2025-12-31T23:00:00.000Z',
      p50Ms: 40.5,
      p99Ms: 395,
      samples: 36_000,
      thresholdsMs: thresholdsOf(HOUR_REFERENCE),
      baselineErrorRate: 0.02,
    };
    expect(output.latencyReference).toEqual(record);
    // The hour's minutes reach the judge, which splits its promote alpha for the ratio test at 2 %.
    expect(judgeCalls().map((e) => e.baselineHourBefore)).toEqual([HOUR.minutes]);
    expect(output.evidence.errorTest).toMatchObject({ baselineErrorRateBefore: 0.02, promoteSplit: 'ratio' });
    expect(logs[0].attributes.latencyReference).toEqual(record);
    // The decision record keeps its contract (docs/CONTRACTS.md): no reference in it.
    expect(Object.keys(output.decisions[0]).sort()).toEqual(
      ['baseline', 'canary', 'canaryWeight', 'judgedAt', 'minute', 'reason', 'stepIndex', 'verdict'].sort(),
    );
  });

  it('has no reference, and asks for no thresholds, until the hour’s last minute is published', async () => {
    // The hour ends at T0; its last minute is published 3 minutes later (publicationLagMinutes).
    const early = setup(ok, [], T0 + 3 * MINUTE - 1);
    const output = await early.handler({ ...input, stepIndex: 0, stepStartedAt: T0 + 20_000 });
    expect(early.metrics.referenceQueries).toHaveLength(0);
    expect(early.metrics.queries).toHaveLength(1);
    expect(early.metrics.queries[0].latencyThresholdsMs).toBeUndefined();
    expect(output.latencyReference).toBeNull();
    expect(judgeCalls()[0].latencyReference).toBeNull();

    const published = setup(ok, [], T0 + 3 * MINUTE);
    const later = await published.handler({ ...input, stepIndex: 0, stepStartedAt: T0 + 20_000 });
    expect(published.metrics.referenceQueries).toHaveLength(1);
    expect(later.latencyReference).toMatchObject({ source: 'pre-rollout-hour', p50Ms: 40.5 });
  });

  describe('without traffic in the hour before', () => {
    // The baseline serves requests from the rollout's third minute on; earlier minutes have no latency.
    const periods = healthyPeriods(30).map((p, i) =>
      i < 3 ? { ...p, baseline: { invocations: 0, errors: 0, p50: null, p99: null } } : p,
    );
    const minute3: LatencyReference = { p50: 40, p99: 403, periodStart: T0 + 3 * MINUTE };

    it('uses the first published rollout minute with baseline p50 and p99, the same on every later call', async () => {
      const calls = [T0 + 7 * MINUTE, T0 + 12 * MINUTE + 30_000, T0 + 34 * MINUTE + 5_000].map(
        async (now) => {
          const { handler, metrics } = setup(ok, periods, now, null);
          const output = await handler({ ...input, stepIndex: 0, stepStartedAt: T0 + 20_000 });
          return { output, metrics };
        },
      );
      for (const { output, metrics } of await Promise.all(calls)) {
        expect(output.latencyReference).toEqual({
          source: 'first-rollout-minute',
          periodStart: '2026-01-01T00:03:00.000Z',
          p50Ms: 40,
          p99Ms: 403,
          samples: 3000,
          thresholdsMs: thresholdsOf(minute3),
          baselineErrorRate: null,
        });
        // One read to find the minute, one with its thresholds.
        expect(metrics.queries.map((q) => q.latencyThresholdsMs)).toEqual([undefined, thresholdsOf(minute3)]);
      }
      expect(judgeCalls().map((e) => e.latencyReference)).toEqual([minute3, minute3, minute3]);
      // No hour before the rollout to learn the baseline's errors from.
      expect(judgeCalls().map((e) => e.baselineHourBefore)).toEqual([[], [], []]);
    });

    it('prefers that minute to an hour of fewer than 100 samples (an idle stage’s smoke test)', async () => {
      const few = setup(ok, periods, T0 + 34 * MINUTE, { ...HOUR, samples: MIN_REFERENCE_SAMPLES - 1 });
      const fallback = await few.handler(input);
      expect(fallback.latencyReference).toMatchObject({
        source: 'first-rollout-minute',
        p50Ms: 40,
        baselineErrorRate: null,
      });
      // The hour's minutes come with the hour: too few samples, and the judge gets none of them.
      expect(judgeCalls()[0].baselineHourBefore).toEqual([]);
      const enough = setup(ok, periods, T0 + 34 * MINUTE, { ...HOUR, samples: MIN_REFERENCE_SAMPLES });
      expect((await enough.handler(input)).latencyReference).toMatchObject({ source: 'pre-rollout-hour' });
    });

    it('has none while that minute is unpublished, and reads the minutes only once then', async () => {
      // Minute 3 closes at 00:04 and is published at 00:07.
      const { handler, metrics } = setup(ok, periods, T0 + 7 * MINUTE - 1, null);
      const output = await handler({ ...input, stepIndex: 0, stepStartedAt: T0 + 20_000 });
      expect(output.latencyReference).toBeNull();
      expect(metrics.queries).toHaveLength(1);
      expect(judgeCalls()[0].latencyReference).toBeNull();
    });
  });
});

describe('judge handler over CloudWatch', () => {
  const rolloutStartedAt = T0 + 20_000;
  const nearestRank = (sorted: number[], q: number) => sorted[Math.ceil(q * sorted.length) - 1] / 1000;

  /** Ten rollout minutes at 10 req/s, 5 % on the canary, lognormal latencies; optionally the hour before. */
  function world(withHourBefore: boolean): SageMakerMetrics {
    const metrics = new SageMakerMetrics();
    for (let m = withHourBefore ? -60 : 0; m < 10; m += 1) {
      const start = T0 + m * MINUTE;
      metrics.record(
        'VariantA',
        start,
        lognormalLatenciesUs(m < 0 ? 600 : 570, 40, 1, 100 + m),
        m >= 0 ? 3 : 12,
      );
      if (m >= 0) metrics.record('VariantB', start, lognormalLatenciesUs(30, 44, 1, 200 + m), 0);
    }
    return metrics;
  }

  async function run(metrics: SageMakerMetrics, nows: readonly number[]) {
    const cloudwatch: CloudWatchStandIn = await startCloudWatchStandIn({ 'canary-5xx': 'OK' }, (body) =>
      metrics.answer(body),
    );
    try {
      const adapter = new CloudWatchRolloutMetrics(
        new CloudWatchClient({
          endpoint: cloudwatch.url,
          region: localRegion,
          credentials: localCredentials,
        }),
      );
      const outputs = [];
      for (const now of nows) {
        const handler = createJudgeHandler({
          metrics: adapter,
          log: { info: () => undefined },
          now: () => now,
        });
        outputs.push(
          await handler({ ...input, stepIndex: 0, stepStartedAt: rolloutStartedAt, rolloutStartedAt }),
        );
      }
      return { outputs, calls: cloudwatch.calls.filter((c) => c.target === 'GetMetricData') };
    } finally {
      await cloudwatch.close();
    }
  }

  /** Every period handed to the judge carries, per variant, the exact count at or below each threshold. */
  function expectCountsAligned(metrics: SageMakerMetrics, evidence: Evidence) {
    const values = latencyThresholds(PROD_ROLLOUT_POLICY, evidence.latencyReference!).values;
    expect(evidence.periods.length).toBeGreaterThan(0);
    for (const period of evidence.periods) {
      for (const [role, variant] of [
        ['baseline', 'VariantA'],
        ['canary', 'VariantB'],
      ] as const) {
        const samples = metrics.latencies(variant, period.start, period.start + MINUTE);
        expect(period[role].atOrBelow).toEqual(
          values.map((v) => samples.filter((x) => x <= v * 1000).length),
        );
      }
    }
  }

  it('reaches the judge with counts at the thresholds of the baseline’s hour before the rollout', async () => {
    const metrics = world(true);
    const { outputs, calls } = await run(metrics, [T0 + 12 * MINUTE + 5_000]);
    const hour = metrics.latencies('VariantA', T0 - 60 * MINUTE, T0);
    const reference = {
      p50: nearestRank(hour, 0.5),
      p99: nearestRank(hour, 0.99),
      periodStart: T0 - 60 * MINUTE,
    };
    const [evidence] = judgeCalls();
    expect(evidence.latencyReference).toEqual(reference);
    expect(outputs[0].latencyReference).toMatchObject({
      source: 'pre-rollout-hour',
      p50Ms: reference.p50,
      samples: 60 * 600,
      baselineErrorRate: 0.02,
    });
    // 12 of 600 requests a minute failed in the hour before: the judge gets those minutes, oldest first.
    expect(evidence.baselineHourBefore).toEqual(
      Array.from({ length: 60 }, () => ({ invocations: 600, errors: 12 })),
    );
    expect(outputs[0].evidence.errorTest.promoteSplit).toBe('ratio');
    expectCountsAligned(metrics, evidence);
    // The reference hour (3 latency statistics, 2 sums), then the minutes: 5 statistics and one PR(:v)
    // per threshold, per variant.
    const values = latencyThresholds(PROD_ROLLOUT_POLICY, reference).values;
    expect(calls.map((c) => (c.input.MetricDataQueries as unknown[]).length)).toEqual([
      5,
      2 * (5 + values.length),
    ]);
  });

  it('without traffic before, reaches the judge with the first rollout minute’s thresholds on every call', async () => {
    const metrics = world(false);
    const { outputs, calls } = await run(metrics, [T0 + 8 * MINUTE, T0 + 12 * MINUTE + 5_000]);
    const minute1 = metrics.latencies('VariantA', T0 + MINUTE, T0 + 2 * MINUTE);
    const reference = {
      p50: nearestRank(minute1, 0.5),
      p99: nearestRank(minute1, 0.99),
      periodStart: T0 + MINUTE,
    };
    const evidence = judgeCalls();
    expect(evidence.map((e) => e.latencyReference)).toEqual([reference, reference]);
    expect(outputs[0].latencyReference).toEqual(outputs[1].latencyReference);
    for (const e of evidence) expectCountsAligned(metrics, e);
    // Per call: the empty hour, the minutes to find the reference, the minutes with its thresholds.
    expect(calls).toHaveLength(6);
  });
});
