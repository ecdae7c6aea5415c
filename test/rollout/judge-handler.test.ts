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
    baseline: { invocations: 3000, errors: 15, latencyAvg: 40 },
    canary: { invocations: 3000, errors: 15, latencyAvg: 41 },
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

function setup(alarms: AlarmObservation[], periods: PeriodMetrics[], now = T0 + 32 * MINUTE + 5_000) {
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
      judgedAt: '2026-01-01T00:32:05.000Z',
    });
    expect(metrics.alarmNames).toEqual([['canary-5xx']]);
    expect(metrics.queries).toEqual([
      {
        endpointName: 'inference-endpoint',
        baselineVariant: 'VariantA',
        canaryVariant: 'VariantB',
        start: new Date(T0 + MINUTE),
        end: new Date(T0 + 32 * MINUTE),
        periodSeconds: 60,
      },
    ]);
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
    });
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

  it('asks for the three per-variant SageMaker metrics of both variants at 60 s', () => {
    const queries = metricDataQueries(query);
    expect(queries.map((q) => q.Id)).toEqual([
      'baseline_invocations',
      'baseline_errors',
      'baseline_latencyavg',
      'canary_invocations',
      'canary_errors',
      'canary_latencyavg',
    ]);
    const canaryErrors = queries[4].MetricStat!;
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
    expect(queries[2].MetricStat!.Stat).toBe('Average');
  });

  it('joins results per period and keeps missing datapoints as null', () => {
    const t0 = new Date(T0);
    const t1 = new Date(T0 + MINUTE);
    const periods = toPeriods([
      { Id: 'baseline_invocations', Timestamps: [t1, t0], Values: [200, 100] },
      { Id: 'baseline_errors', Timestamps: [t0, t1], Values: [1, 0] },
      { Id: 'canary_invocations', Timestamps: [t0, t1], Values: [10, 12] },
      { Id: 'canary_errors', Timestamps: [t1], Values: [2] },
      { Id: 'canary_latencyavg', Timestamps: [t0], Values: [41.5] },
    ]);
    expect(periods).toEqual([
      {
        start: T0,
        baseline: { invocations: 100, errors: 1, latencyAvg: null },
        canary: { invocations: 10, errors: null, latencyAvg: 41.5 },
      },
      {
        start: T0 + MINUTE,
        baseline: { invocations: 200, errors: 0, latencyAvg: null },
        canary: { invocations: 12, errors: 2, latencyAvg: null },
      },
    ]);
  });
});
