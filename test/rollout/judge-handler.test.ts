import {
  metricDataQueries,
  toPeriods,
  type RolloutMetrics,
  type VariantMetricsQuery,
} from '../../services/rollout/adapters/cloudwatch';
import type { AlarmObservation, PeriodMetrics } from '../../services/rollout/judge';
import {
  createJudgeHandler,
  InvalidJudgeInputError,
  MAX_DECISIONS,
  type JudgeInput,
} from '../../services/rollout/judge-handler';
import { PROD_ROLLOUT_POLICY } from '../../services/rollout/policy';

const T0 = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;

class FakeMetrics implements RolloutMetrics {
  readonly queries: VariantMetricsQuery[] = [];
  readonly alarmNames: (readonly string[])[] = [];
  constructor(
    private readonly alarms: AlarmObservation[],
    private readonly periods: PeriodMetrics[],
  ) {}
  async alarmStates(names: readonly string[]): Promise<AlarmObservation[]> {
    this.alarmNames.push(names);
    return this.alarms;
  }
  async variantMetrics(query: VariantMetricsQuery): Promise<PeriodMetrics[]> {
    this.queries.push(query);
    return this.periods;
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

function setup(alarms: AlarmObservation[], periods: PeriodMetrics[], now = T0 + 34 * MINUTE + 5_000) {
  const metrics = new FakeMetrics(alarms, periods);
  const logs: { message: string; attributes: Record<string, unknown> }[] = [];
  const handler = createJudgeHandler({
    metrics,
    log: { info: (message, attributes) => logs.push({ message, attributes }) },
    now: () => now,
  });
  return { handler, metrics, logs };
}

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
  });
});

describe('CloudWatch adapter mapping', () => {
  const query: VariantMetricsQuery = {
    endpointName: 'ep',
    baselineVariant: 'VariantA',
    canaryVariant: 'VariantB',
    start: new Date(T0),
    end: new Date(T0 + 5 * MINUTE),
    periodSeconds: 60,
  };

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
    expect(canaryErrors).toEqual({
      Metric: {
        Namespace: 'AWS/SageMaker',
        MetricName: 'Invocation5XXErrors',
        Dimensions: [
          { Name: 'EndpointName', Value: 'ep' },
          { Name: 'VariantName', Value: 'VariantB' },
        ],
      },
      Period: 60,
      Stat: 'Sum',
    });
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
