import { judge, ratioToRuleOut, type Evidence, type PeriodMetrics } from '../../services/rollout/judge';
import { createRolloutPolicy, PROD_ROLLOUT_POLICY } from '../../services/rollout/policy';

const T0 = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;
const policy = createRolloutPolicy({ ...PROD_ROLLOUT_POLICY, deadlineMinutes: 120 });

interface Traffic {
  nA: number;
  eA: number;
  nB: number;
  eB: number;
  latA?: number;
  latB?: number;
}

function periods(count: number, t: Traffic, firstMinute = 0): PeriodMetrics[] {
  return Array.from({ length: count }, (_, i) => ({
    start: T0 + (firstMinute + i) * MINUTE,
    baseline: { invocations: t.nA, errors: t.eA, latencyAvg: t.latA ?? 40 },
    canary: { invocations: t.nB, errors: t.eB, latencyAvg: t.latB ?? 40 },
  }));
}

function evidence(overrides: Partial<Evidence>): Evidence {
  return {
    alarms: [{ name: 'canary-5xx', state: 'OK' }],
    periods: [],
    periodSeconds: 60,
    stepIndex: 2,
    stepStartedAt: T0 + 10 * MINUTE,
    rolloutStartedAt: T0,
    ...overrides,
  };
}

// 30 minutes of a healthy 50 % canary: 3000 requests a minute per variant, 0.5 % errors on both.
const healthy = periods(30, { nA: 3000, eA: 15, nB: 3000, eB: 15 });
const afterHealthy = T0 + 32 * MINUTE;

describe('judge', () => {
  it('promotes a good canary once a meaningful regression is ruled out and the bake has passed', () => {
    const result = judge(evidence({ periods: healthy }), policy, afterHealthy);
    expect(result.verdict).toBe('promote');
    expect(result.reason).toMatch(/promote to 100% canary/);
    expect(result.summary.errorTest.promoteLogEvidence).toBeGreaterThan(
      result.summary.logThresholds.errorPromote,
    );
    expect(result.summary.periodsUsed).toBe(30);
  });

  it('rolls back at once when a canary alarm is in ALARM, whatever the metrics say', () => {
    const alarms = [
      { name: 'canary-5xx', state: 'ALARM' as const },
      { name: 'canary-latency', state: 'OK' as const },
    ];
    const result = judge(evidence({ alarms, periods: [] }), policy, T0 + MINUTE);
    expect(result.verdict).toBe('rollback');
    expect(result.reason).toBe('canary alarm in ALARM: canary-5xx');
    expect(judge(evidence({ alarms, periods: healthy }), policy, afterHealthy).verdict).toBe('rollback');
  });

  it('never promotes while an alarm is INSUFFICIENT_DATA or missing, and rolls back at the deadline', () => {
    for (const state of ['INSUFFICIENT_DATA', 'MISSING'] as const) {
      const alarms = [{ name: 'canary-5xx', state }];
      const result = judge(evidence({ alarms, periods: healthy }), policy, afterHealthy);
      expect(result.verdict).toBe('wait');
      expect(result.reason).toMatch(/alarms not OK: canary-5xx/);
      expect(judge(evidence({ alarms, periods: healthy }), policy, T0 + 120 * MINUTE).verdict).toBe(
        'rollback',
      );
    }
  });

  it('rolls back a canary with ten times the baseline error rate', () => {
    const bad = periods(3, { nA: 570, eA: 3, nB: 30, eB: 2 }).concat(
      periods(2, { nA: 570, eA: 3, nB: 30, eB: 1 }, 3),
    );
    const result = judge(
      evidence({ stepIndex: 0, stepStartedAt: T0, periods: bad }),
      policy,
      T0 + 6 * MINUTE,
    );
    expect(result.verdict).toBe('rollback');
    expect(result.reason).toMatch(/5xx rate is significantly higher/);
    expect(result.summary.errorTest.estimatedRatio).toBeGreaterThan(5);
  });

  it('rolls back a canary whose latency regressed, with identical error rates', () => {
    const slow = periods(12, { nA: 3000, eA: 15, nB: 3000, eB: 15, latB: 60 });
    const result = judge(evidence({ periods: slow }), policy, T0 + 14 * MINUTE);
    expect(result.verdict).toBe('rollback');
    expect(result.reason).toMatch(/latency is significantly above 1.2× baseline/);
    expect(result.summary.latencyTest.ratio).toBeCloseTo(1.5);
  });

  it('waits, and never promotes, when the canary gets no traffic', () => {
    const idle = periods(30, { nA: 6000, eA: 30, nB: 0, eB: 0 });
    const result = judge(evidence({ periods: idle }), policy, afterHealthy);
    expect(result.verdict).toBe('wait');
    expect(result.reason).toMatch(/not yet ruled out/);
    expect(result.summary.canary.errorRate).toBeNull();
  });

  it('waits with no data at all and rolls back when the deadline passes without evidence', () => {
    expect(judge(evidence({ periods: [] }), policy, T0 + 5 * MINUTE).verdict).toBe('wait');
    const late = judge(evidence({ periods: [] }), policy, T0 + 120 * MINUTE);
    expect(late.verdict).toBe('rollback');
    expect(late.reason).toMatch(/deadline of 120 min passed without evidence/);
    expect(late.summary.deadlinePassed).toBe(true);
  });

  it('still promotes after the deadline when the evidence is there', () => {
    expect(judge(evidence({ periods: healthy }), policy, T0 + 121 * MINUTE).verdict).toBe('promote');
  });

  it('waits while the minimum bake of the step has not passed', () => {
    const result = judge(
      evidence({ stepStartedAt: T0 + 31 * MINUTE, periods: healthy }),
      policy,
      afterHealthy,
    );
    expect(result.verdict).toBe('wait');
    expect(result.reason).toBe('minimum bake of this step not reached');
  });

  it('waits until a period at the new weights is visible, even after the bake time', () => {
    const result = judge(
      evidence({ stepStartedAt: T0 + 30 * MINUTE, periods: healthy }),
      policy,
      T0 + 40 * MINUTE,
    );
    expect(result.summary.periodsWithCanaryTrafficThisStep).toBe(0);
    expect(result.verdict).toBe('wait');
  });

  it('drops periods that look like counter resets instead of reading them as healthy or broken', () => {
    const resets: PeriodMetrics[] = healthy.map((p, i) => ({
      ...p,
      canary:
        i % 2 === 0
          ? { invocations: 10, errors: 500, latencyAvg: 40 }
          : { invocations: -3000, errors: 0, latencyAvg: 40 },
    }));
    const result = judge(evidence({ periods: resets }), policy, afterHealthy);
    expect(result.verdict).toBe('wait');
    expect(result.summary.periodsDiscarded).toBe(30);
    expect(result.summary.periodsUsed).toBe(0);
  });

  it('does not read a missing 5xx datapoint as zero errors', () => {
    const noErrorMetric = healthy.map((p) => ({
      ...p,
      canary: { invocations: 3000, errors: null, latencyAvg: 40 },
    }));
    const result = judge(evidence({ periods: noErrorMetric }), policy, afterHealthy);
    expect(result.verdict).toBe('wait');
    expect(result.summary.periodsDiscarded).toBe(30);
  });

  it('tolerates missing and zero-traffic periods between good ones', () => {
    const gappy = healthy
      .filter((_, i) => i % 3 !== 0)
      .concat(periods(1, { nA: 0, eA: 0, nB: 0, eB: 0 }, 30));
    const idleMinute = { start: T0 + 31 * MINUTE, baseline: {}, canary: {} };
    const result = judge(evidence({ periods: [...gappy, idleMinute] }), policy, T0 + 33 * MINUTE);
    expect(result.verdict).toBe('promote');
    expect(result.summary.periodsUsed).toBe(22);
  });

  it('ignores duplicated, unfinished and pre-rollout periods', () => {
    const before = periods(30, { nA: 3000, eA: 0, nB: 3000, eB: 300 }, -40);
    const open = periods(1, { nA: 3000, eA: 0, nB: 3000, eB: 300 }, 31);
    const duplicate = periods(1, { nA: 3000, eA: 0, nB: 3000, eB: 300 }, 5);
    const result = judge(
      evidence({ periods: [...before, ...healthy, ...open, ...duplicate] }),
      policy,
      T0 + 31.5 * MINUTE,
    );
    expect(result.verdict).toBe('promote');
    expect(result.summary.periodsUsed).toBe(29);
    expect(result.summary.periodsDiscarded).toBe(33);
  });

  it('is deterministic', () => {
    const input = evidence({ periods: healthy });
    expect(judge(input, policy, afterHealthy)).toEqual(judge(input, policy, afterHealthy));
  });

  it('does not promote a small sample that cannot rule out a regression', () => {
    const small = periods(30, { nA: 60, eA: 0, nB: 60, eB: 0 });
    const result = judge(evidence({ periods: small }), policy, afterHealthy);
    expect(result.verdict).toBe('wait');
    expect(result.reason).toMatch(/error-rate ratio ≥ [\d.]+ not yet ruled out/);
  });
});

describe('ratioToRuleOut', () => {
  it('demands more as the exposure of the next step grows, ending at the policy regression', () => {
    const ratios = [0, 1, 2].map((step) => ratioToRuleOut(policy, step, 1_000_000, 5_000));
    expect(ratios[0]).toBeGreaterThan(ratios[1]);
    expect(ratios[1]).toBeGreaterThan(ratios[2]);
    // +1 point on a 0.5 % baseline is a 3× regression, larger than the 2× ratio, so 3× must be ruled out.
    expect(ratios[2]).toBeCloseTo(3, 2);
  });

  it('falls back to the ratio when the baseline is unknown, which is the stricter bound', () => {
    expect(ratioToRuleOut(policy, 2, 0, 0)).toBeCloseTo(2);
  });
});
