import { normalCdf } from '../../bench/canary-sim';
import {
  canaryRateBound,
  judge,
  promoteShares,
  RATE_BOUND_SHARES,
  RATIO_SHARES,
  latencyRatioToRuleOut,
  latencyThresholds,
  type BaselineMinute,
  type Evidence,
  type LatencyReference,
  type PeriodMetrics,
} from '../../services/rollout/judge';
import { createRolloutPolicy, PROD_ROLLOUT_POLICY } from '../../services/rollout/policy';

const T0 = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;
const policy = createRolloutPolicy({ ...PROD_ROLLOUT_POLICY, deadlineMinutes: 120 });
const LAG = policy.publicationLagMinutes ?? 3;
/** Lognormal latency, σ = 1, median 40 ms: p99 ≈ 409 ms. */
const MEDIAN_MS = 40;
const Z99 = 2.3263478740408408;
/** The baseline's hour before the rollout. */
const REFERENCE: LatencyReference = {
  p50: MEDIAN_MS,
  p99: MEDIAN_MS * Math.exp(Z99),
  periodStart: T0 - 60 * MINUTE,
};
const THRESHOLDS = latencyThresholds(policy, REFERENCE).values;

interface Traffic {
  nA: number;
  eA: number;
  nB: number;
  eB: number;
  /** Canary p50 ÷ baseline p50 (default 1). */
  p50Ratio?: number;
  /** Canary p99 ÷ baseline p99 (default 1); above p50Ratio, only the upper half stretches. */
  p99Ratio?: number;
}

/** Per-minute percentiles wobble like real ones: ±15 %, deterministically, independently per variant. */
function wobble(i: number, salt: number): number {
  const x = Math.sin(i * 12.9898 + salt * 78.233) * 43758.5453;
  return 0.85 + 0.3 * (x - Math.floor(x));
}

/** Requests at or below each threshold for n requests of a variant scaled by p50Ratio, tail by p99Ratio. */
function countsAtOrBelow(n: number, p50Ratio = 1, p99Ratio = p50Ratio): number[] {
  const stretch = Math.log(p99Ratio / p50Ratio) / Z99;
  return THRESHOLDS.map((v) => {
    const y = Math.log(v / (MEDIAN_MS * p50Ratio));
    return Math.round(n * normalCdf(y > 0 ? y / (1 + stretch) : y));
  });
}

function periods(count: number, t: Traffic, firstMinute = 0): PeriodMetrics[] {
  return Array.from({ length: count }, (_, k) => {
    const i = firstMinute + k;
    return {
      start: T0 + i * MINUTE,
      baseline: {
        invocations: t.nA,
        errors: t.eA,
        p50: MEDIAN_MS * wobble(i, 1),
        p99: 400 * wobble(i, 2),
        atOrBelow: countsAtOrBelow(t.nA),
      },
      canary: {
        invocations: t.nB,
        errors: t.eB,
        p50: MEDIAN_MS * (t.p50Ratio ?? 1) * wobble(i, 3),
        p99: 400 * (t.p99Ratio ?? 1) * wobble(i, 4),
        atOrBelow: countsAtOrBelow(t.nB, t.p50Ratio, t.p99Ratio),
      },
    };
  });
}

/** Sixty minutes of `n` baseline requests at `rate`, spread evenly (no bursts). */
function hourBefore(n: number, rate: number): BaselineMinute[] {
  return Array.from({ length: 60 }, () => ({ invocations: n, errors: Math.round(n * rate) }));
}

function evidence(overrides: Partial<Evidence>): Evidence {
  return {
    alarms: [{ name: 'canary-5xx', state: 'OK' }],
    periods: [],
    periodSeconds: 60,
    stepIndex: 2,
    stepStartedAt: T0 + 10 * MINUTE,
    rolloutStartedAt: T0,
    latencyReference: REFERENCE,
    ...overrides,
  };
}

// 30 minutes of a healthy 50 % canary: 3000 requests a minute per variant, 0.5 % errors on both.
const healthy = periods(30, { nA: 3000, eA: 15, nB: 3000, eB: 15 });
/** When all 30 minutes have been published (the last one closed at 30 and needs the lag). */
const afterHealthy = T0 + (30 + LAG) * MINUTE + 5_000;

describe('judge', () => {
  it('promotes a good canary once every margin is shown and the bake has passed', () => {
    const result = judge(evidence({ periods: healthy }), policy, afterHealthy);
    expect(result.verdict).toBe('promote');
    expect(result.reason).toMatch(/promote to 100% canary/);
    expect(result.summary.errorTest.canaryRateUpperBound).toBeLessThan(
      result.summary.errorTest.canaryRateBound,
    );
    expect(result.summary.latencyTest.p99.requiredForPromotion).toBe(true);
    expect(result.summary.periodsUsed).toBe(30);
    expect(result.newestPeriod?.start).toBe(T0 + 29 * MINUTE);
  });

  it('promotes a zero-error canary beside a zero-error baseline once its traffic bounds the rate by the margin', () => {
    const perfect = (minutes: number) => periods(minutes, { nA: 100, eA: 0, nB: 100, eB: 0 });
    const at = (minutes: number) => T0 + (minutes + LAG) * MINUTE + 5_000;
    const early = judge(evidence({ periods: perfect(3) }), policy, at(3));
    expect(early.verdict).toBe('wait');
    expect(early.reason).toMatch(/canary 5xx rate not yet shown below 1 %/);
    // 0 errors in n requests bounds the rate below 1 % (the margin at the last step) once n ≈ 500.
    const later = judge(evidence({ periods: perfect(20) }), policy, at(20));
    expect(later.summary.errorTest.baselineRateLowerBound).toBe(0);
    expect(later.summary.errorTest.canaryRateBound).toBeCloseTo(0.01);
    expect(later.verdict).toBe('promote');
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

  it('rolls back a 5 % canary with ten times the baseline error rate within minutes', () => {
    const bad = periods(6, { nA: 570, eA: 3, nB: 30, eB: 2 });
    const result = judge(
      evidence({ stepIndex: 0, stepStartedAt: T0, periods: bad }),
      policy,
      T0 + (6 + LAG) * MINUTE + 5_000,
    );
    expect(result.verdict).toBe('rollback');
    expect(result.reason).toMatch(/5xx rate is significantly higher/);
    expect(result.summary.errorTest.estimatedRatio).toBeGreaterThan(5);
  });

  it('learns the error bursts to expect from the baseline’s hour before the rollout', () => {
    // Four minutes of a 5 % canary failing 3–7 % of its 30 requests against a 0.5 % baseline.
    const tenfold = [2, 1, 2, 2].flatMap((eB, i) => periods(1, { nA: 570, eA: 3, nB: 30, eB }, i));
    const at = T0 + (4 + LAG) * MINUTE + 5_000;
    const judged = (before: BaselineMinute[] | null) =>
      judge(evidence({ stepIndex: 0, periods: tenfold, baselineHourBefore: before }), policy, at);
    // An hour of steady errors: little beyond Poisson noise to allow for (a candidate's own bursts of
    // CV 0.5 at most, until its minutes show more), and four minutes suffice.
    const steady = judged(hourBefore(600, 0.005));
    expect(steady.summary.canary.dispersion).toBeLessThan(1.1);
    expect(steady.verdict).toBe('rollback');
    // Without that hour the canary's few minutes must allow for CV-1 bursts, and they do not suffice yet.
    const unknown = judged(null);
    expect(unknown.summary.canary.dispersion).toBeGreaterThan(1.5);
    expect(unknown.verdict).toBe('wait');
    // An hour whose errors came in bursts (12 every fourth minute): more caution still, not less.
    const bursts = Array.from({ length: 60 }, (_, i) => ({ invocations: 600, errors: i % 4 === 0 ? 12 : 0 }));
    const bursty = judged(bursts);
    expect(bursty.summary.canary.dispersion).toBeGreaterThan(unknown.summary.canary.dispersion);
    expect(bursty.verdict).toBe('wait');
  });

  it('rolls back a canary whose median latency regressed, with identical error rates', () => {
    const slow = periods(12, { nA: 3000, eA: 15, nB: 3000, eB: 15, p50Ratio: 1.5, p99Ratio: 1.5 });
    const result = judge(evidence({ periods: slow }), policy, T0 + (12 + LAG) * MINUTE + 5_000);
    expect(result.verdict).toBe('rollback');
    expect(result.reason).toMatch(/p50 latency is significantly above 1.2× baseline/);
    expect(result.summary.latencyTest.p50.medianRatio).toBeGreaterThan(1.3);
  });

  it('rolls back a tail-only regression (p99 × 2, median unchanged) and never promotes it', () => {
    const tail = periods(14, { nA: 3000, eA: 15, nB: 3000, eB: 15, p99Ratio: 2 });
    const result = judge(evidence({ periods: tail }), policy, T0 + (14 + LAG) * MINUTE + 5_000);
    expect(result.verdict).toBe('rollback');
    expect(result.reason).toMatch(/p99 latency is significantly above 1.5× baseline/);
    for (let minutes = 1; minutes <= 14; minutes++) {
      const early = judge(
        evidence({ periods: tail.slice(0, minutes) }),
        policy,
        T0 + (minutes + LAG) * MINUTE + 5_000,
      );
      expect(early.verdict).not.toBe('promote');
    }
  });

  it('counts the requests above fixed thresholds, so a 5 % step is judged on its requests and its own margin', () => {
    const at = T0 + (20 + LAG) * MINUTE + 5_000;
    const judgeStep0 = (p50Ratio: number) =>
      judge(
        evidence({
          stepIndex: 0,
          stepStartedAt: T0,
          periods: periods(20, { nA: 570, eA: 0, nB: 30, eB: 0, p50Ratio, p99Ratio: p50Ratio }),
        }),
        policy,
        at,
      ).summary.latencyTest.p50;
    const healthy5 = judgeStep0(1);
    // The first promotion rules out 1.8×: half the baseline's requests are above the reference p50,
    // only ~28 % of a healthy canary's above 1.8 × it (and ~43 % above the rollback test's 1.2 ×).
    expect(healthy5.promoteRatio).toBeCloseTo(1.8);
    expect(healthy5.baselineSlowShare).toBeCloseTo(0.5, 1);
    expect(healthy5.canarySlowShare).toBeCloseTo(0.43, 1);
    expect(healthy5.promoteLogEvidence).toBeGreaterThan(Math.log(1 / policy.alpha));
    // A canary exactly at 1.8× is the promote test's null: it never gathers evidence for promotion.
    expect(judgeStep0(1.8).promoteLogEvidence).toBeLessThan(0);
    expect(healthy5.requiredForPromotion).toBe(true);
  });

  it('judges no latency without a reference, and a reference read from a rollout minute only on later minutes', () => {
    const now = T0 + (30 + LAG) * MINUTE + 5_000;
    const none = judge(evidence({ periods: healthy, latencyReference: null }), policy, now);
    expect(none.verdict).toBe('wait');
    expect(none.reason).toMatch(/no baseline latency reference yet/);
    expect(none.summary.latencyTest.p50.minutes).toBe(0);
    const fromMinute10 = judge(
      evidence({ periods: healthy, latencyReference: { ...REFERENCE, periodStart: T0 + 10 * MINUTE } }),
      policy,
      now,
    );
    expect(fromMinute10.summary.latencyTest.p50.minutes).toBe(19);
  });

  it('drops the latency evidence of a minute whose threshold counts are partial or garbled, not its errors', () => {
    const garbled = healthy.map((p, i) =>
      i === 5
        ? { ...p, canary: { ...p.canary, atOrBelow: [...(p.canary.atOrBelow ?? [])].reverse() } }
        : i === 6
          ? { ...p, baseline: { ...p.baseline, atOrBelow: [1] } }
          : p,
    );
    const result = judge(evidence({ periods: garbled }), policy, afterHealthy);
    expect(result.summary.periodsUsed).toBe(30);
    expect(result.summary.latencyTest.p50.minutes).toBe(28);
  });

  it('passes a step too thin to judge at low traffic, but never the last promotion', () => {
    // 1 req/s: a 5 % canary gets 3 requests a minute, below minCanaryRequestsPerMinute (20).
    const thin = periods(2, { nA: 57, eA: 0, nB: 3, eB: 0 });
    const at = T0 + (2 + LAG) * MINUTE + 5_000;
    const step0 = judge(evidence({ stepIndex: 0, stepStartedAt: T0, periods: thin }), policy, at);
    expect(step0.verdict).toBe('promote');
    expect(step0.reason).toMatch(/low traffic: 60 requests a minute give a 5% canary fewer than 20/);
    // At 50 % it sees 30 a minute: judged on evidence, which two minutes do not give.
    const step2 = judge(evidence({ stepIndex: 2, stepStartedAt: T0, periods: thin }), policy, at);
    expect(step2.verdict).toBe('wait');
    // A canary in ALARM, or a not-OK alarm, is never passed on.
    const alarms = [{ name: 'canary-5xx', state: 'INSUFFICIENT_DATA' as const }];
    expect(
      judge(evidence({ alarms, stepIndex: 0, stepStartedAt: T0, periods: thin }), policy, at).verdict,
    ).toBe('wait');
    // Nor is a canary whose few requests already lean towards a regression: one error in each of its
    // two minutes (6 requests) against none in the baseline's 114.
    const erring = periods(2, { nA: 57, eA: 0, nB: 3, eB: 1 });
    const held = judge(evidence({ stepIndex: 0, stepStartedAt: T0, periods: erring }), policy, at);
    expect(held.verdict).toBe('wait');
    expect(held.reason).toMatch(/leans towards a regression/);
    const walkAll = createRolloutPolicy({ ...policy, minCanaryRequestsPerMinute: 0 });
    expect(judge(evidence({ stepIndex: 0, stepStartedAt: T0, periods: thin }), walkAll, at).verdict).toBe(
      'wait',
    );
  });

  it('shows a busy baseline’s canary within the margin by the error ratio, without bounding the baseline', () => {
    // 2 % errors on both sides at 50 %: θ ≈ 1 against θ₀ = 2 (the ratio dominates the margin).
    const busy = periods(20, { nA: 300, eA: 6, nB: 300, eB: 6 });
    const result = judge(evidence({ periods: busy }), policy, T0 + (20 + LAG) * MINUTE + 5_000);
    expect(result.summary.errorTest.ratioToRuleOut).toBeCloseTo(2);
    // The rate bound alone is not there yet: it must bound the baseline's rate from below as well.
    expect(result.summary.errorTest.promoteLogEvidence).toBeLessThan(
      result.summary.logThresholds.errorPromote,
    );
    expect(result.summary.errorTest.ratioPromoteLogEvidence).toBeGreaterThan(
      result.summary.logThresholds.errorRatioPromote,
    );
    expect(result.verdict).toBe('promote');
    // A canary at exactly twice the baseline's rate is the ratio test's null: no evidence for it.
    const doubled = periods(20, { nA: 300, eA: 6, nB: 300, eB: 12 });
    const worse = judge(evidence({ periods: doubled }), policy, T0 + (20 + LAG) * MINUTE + 5_000);
    expect(worse.summary.errorTest.ratioPromoteLogEvidence).toBeLessThan(0);
    expect(worse.verdict).not.toBe('promote');
  });

  it('gives the ratio test most of the promote alpha when the hour before the rollout shows a busy baseline', () => {
    // 2 % on both sides at 50 % for 8 minutes after an hour at 2 %: the ratio test's evidence (≈ 4.9)
    // clears log(1/(¾α)) but not log(1/(⅛α)), and the rate bound is not there yet.
    const busy = periods(8, { nA: 300, eA: 6, nB: 300, eB: 6 });
    const at = T0 + (8 + LAG) * MINUTE + 5_000;
    const known = judge(evidence({ periods: busy, baselineHourBefore: hourBefore(600, 0.02) }), policy, at);
    expect(known.summary.errorTest).toMatchObject({ promoteSplit: 'ratio', baselineErrorRateBefore: 0.02 });
    const { ratioPromoteLogEvidence, promoteLogEvidence } = known.summary.errorTest;
    expect(ratioPromoteLogEvidence).toBeGreaterThan(Math.log(1 / (RATIO_SHARES.ratioPromote * policy.alpha)));
    expect(ratioPromoteLogEvidence).toBeLessThan(
      Math.log(1 / (RATE_BOUND_SHARES.ratioPromote * policy.alpha)),
    );
    expect(promoteLogEvidence).toBeLessThan(known.summary.logThresholds.errorPromote);
    expect(known.reason).not.toMatch(/5xx/);
    // Unknown, too little traffic, or a quiet baseline before the rollout: the split that can promote
    // a zero-error canary.
    for (const before of [null, undefined, [], hourBefore(1, 0.02), hourBefore(600, 0.005)]) {
      const result = judge(evidence({ periods: busy, baselineHourBefore: before }), policy, at);
      expect(result.summary.errorTest.promoteSplit).toBe('rate-bound');
    }
    const rateOf = (before: BaselineMinute[]) =>
      judge(evidence({ periods: busy, baselineHourBefore: before }), policy, at).summary.errorTest
        .baselineErrorRateBefore;
    expect(rateOf(hourBefore(1, 0.5))).toBeNull();
    // Minutes that are no counts do not count.
    expect(
      rateOf([...hourBefore(10, 0.1), { invocations: 5, errors: 9 }, { invocations: -1, errors: 0 }]),
    ).toBe(0.1);
  });

  it('splits by which margin binds: the ratio’s once baseline × (ratio − 1) reaches the increase', () => {
    // ratio 2, increase 1 point: the ratio margin binds from a 1 % baseline on.
    expect(promoteShares(policy, 0.01)).toBe(RATIO_SHARES);
    expect(promoteShares(policy, 0.0099)).toBe(RATE_BOUND_SHARES);
    expect(promoteShares(policy, Number.NaN)).toBe(RATE_BOUND_SHARES);
    const wide = createRolloutPolicy({ ...policy, errorRegression: { ratio: 1.5, increase: 0.01 } });
    expect(promoteShares(wide, 0.015)).toBe(RATE_BOUND_SHARES);
    expect(promoteShares(wide, 0.02)).toBe(RATIO_SHARES);
    for (const shares of [RATE_BOUND_SHARES, RATIO_SHARES]) {
      expect(shares.baselineLowerBound + shares.canaryUpperBound + shares.ratioPromote).toBeCloseTo(1);
    }
  });

  it('holds a promotion while the canary’s errors lean towards a regression inside the margin', () => {
    // 0.8 % against 0.5 % at 50 %: inside the 1.5 % margin, shown below it, but more likely worse.
    const at = T0 + (15 + LAG) * MINUTE + 5_000;
    const leaning = judge(
      evidence({ periods: periods(15, { nA: 1000, eA: 5, nB: 1000, eB: 8 }) }),
      policy,
      at,
    );
    expect(leaning.summary.errorTest.promoteLogEvidence).toBeGreaterThan(
      leaning.summary.logThresholds.errorPromote,
    );
    expect(leaning.summary.errorTest.rollbackLogEvidence).toBeGreaterThanOrEqual(1);
    expect(leaning.summary.errorTest.rollbackLogEvidence).toBeLessThan(
      leaning.summary.logThresholds.errorRollback,
    );
    expect(leaning.verdict).toBe('wait');
    expect(leaning.reason).toMatch(
      /^canary 5xx rate leans towards a regression \(rollback log-evidence 1\.49 ≥ 1\)$/,
    );
    // The same traffic with the baseline's own rate promotes.
    const even = judge(evidence({ periods: periods(15, { nA: 1000, eA: 5, nB: 1000, eB: 5 }) }), policy, at);
    expect(even.verdict).toBe('promote');
  });

  it('waits, and never promotes, when the canary gets no traffic', () => {
    const idle = periods(30, { nA: 6000, eA: 30, nB: 0, eB: 0 }).map((p) => ({
      ...p,
      canary: { invocations: null, errors: null, p50: null, p99: null },
    }));
    const result = judge(evidence({ periods: idle }), policy, afterHealthy);
    expect(result.verdict).toBe('wait');
    expect(result.reason).toMatch(/not yet shown below/);
    expect(result.summary.canary.errorRate).toBeNull();
  });

  it('waits with no data at all and rolls back when the deadline passes without evidence', () => {
    expect(judge(evidence({ periods: [] }), policy, T0 + 5 * MINUTE).verdict).toBe('wait');
    const late = judge(evidence({ periods: [] }), policy, T0 + 120 * MINUTE);
    expect(late.verdict).toBe('rollback');
    expect(late.reason).toMatch(/deadline of 120 min passed without evidence/);
    expect(late.summary.deadlinePassed).toBe(true);
    expect(late.newestPeriod).toBeNull();
  });

  it('still promotes after the deadline when the evidence is there', () => {
    expect(judge(evidence({ periods: healthy }), policy, T0 + 121 * MINUTE).verdict).toBe('promote');
  });

  it('waits while the minimum bake of the step has not passed', () => {
    const result = judge(
      evidence({ stepStartedAt: afterHealthy - MINUTE, periods: healthy }),
      policy,
      afterHealthy,
    );
    expect(result.verdict).toBe('wait');
    expect(result.reason).toBe('minimum bake of this step not reached');
  });

  it('before the last promotion, waits until a complete period at the new weights is visible', () => {
    const result = judge(
      evidence({ stepStartedAt: T0 + 30 * MINUTE, periods: healthy }),
      policy,
      T0 + 40 * MINUTE,
    );
    expect(result.summary.periodsWithCanaryTrafficThisStep).toBe(0);
    expect(result.verdict).toBe('wait');
    // An intermediate step pools the evidence so far and needs only its minimum bake.
    const early = periods(30, { nA: 4275, eA: 21, nB: 1425, eB: 7 });
    const step = judge(
      evidence({ stepIndex: 1, stepStartedAt: T0 + 30 * MINUTE, periods: early }),
      policy,
      T0 + 33 * MINUTE,
    );
    expect(step.summary.periodsWithCanaryTrafficThisStep).toBe(0);
    expect(step.verdict).toBe('promote');
  });

  it('never uses a minute younger than the publication lag: a partly aggregated minute cannot roll back', () => {
    // The newest minute as CloudWatch shows it while still aggregating: few invocations, all errors so far.
    const partial: PeriodMetrics = {
      start: T0 + 30 * MINUTE,
      baseline: { invocations: 1200, errors: 2, p50: 40, p99: 400 },
      canary: { invocations: 40, errors: 39, p50: 90, p99: 900 },
    };
    const now = T0 + (30 + LAG) * MINUTE + 5_000; // minute 30 closed at 31, LAG not yet over
    const result = judge(evidence({ periods: [...healthy, partial] }), policy, now);
    expect(result.summary.periodsIncomplete).toBe(1);
    expect(result.summary.periodsUsed).toBe(30);
    expect(result.verdict).not.toBe('rollback');
  });

  it('holds back a period whose latency sample count contradicts its invocations', () => {
    const inconsistent = healthy.map((p, i) =>
      i === 29 ? { ...p, canary: { ...p.canary, latencySamples: 1200 } } : p,
    );
    const result = judge(evidence({ periods: inconsistent }), policy, afterHealthy);
    expect(result.summary.periodsIncomplete).toBe(1);
    expect(result.summary.periodsUsed).toBe(29);
  });

  it('estimates each variant’s dispersion from its per-minute counts', () => {
    // Same mean rate (1 %), but the canary's errors come in bursts: 0, 60, 0, 60, ...
    const bursty = periods(30, { nA: 3000, eA: 30, nB: 3000, eB: 0 }).map((p, i) => ({
      ...p,
      canary: { ...p.canary, errors: i % 2 === 0 ? 0 : 60 },
    }));
    const result = judge(evidence({ periods: bursty }), policy, afterHealthy);
    expect(result.summary.canary.dispersion).toBeGreaterThan(20);
    // Steady counts: only the cautious prior of a few minutes' worth remains.
    expect(result.summary.baseline.dispersion).toBeLessThan(5);
    // The bursts are noise around the same rate, not a regression.
    expect(result.verdict).not.toBe('rollback');
  });

  it('drops periods that look like counter resets instead of reading them as healthy or broken', () => {
    const resets: PeriodMetrics[] = healthy.map((p, i) => ({
      ...p,
      canary:
        i % 2 === 0
          ? { invocations: 10, errors: 500, p50: 40, p99: 400 }
          : { invocations: -3000, errors: 0, p50: 40, p99: 400 },
    }));
    const result = judge(evidence({ periods: resets }), policy, afterHealthy);
    expect(result.verdict).toBe('wait');
    expect(result.summary.periodsDiscarded).toBe(30);
    expect(result.summary.periodsUsed).toBe(0);
  });

  it('does not read a missing 5xx datapoint as zero errors', () => {
    const noErrorMetric = healthy.map((p) => ({ ...p, canary: { ...p.canary, errors: null } }));
    const result = judge(evidence({ periods: noErrorMetric }), policy, afterHealthy);
    expect(result.verdict).toBe('wait');
    expect(result.summary.periodsDiscarded).toBe(30);
  });

  it('ignores duplicated and pre-rollout periods', () => {
    const before = periods(30, { nA: 3000, eA: 0, nB: 3000, eB: 300 }, -40);
    const duplicate = periods(1, { nA: 3000, eA: 0, nB: 3000, eB: 300 }, 5);
    const result = judge(evidence({ periods: [...before, ...healthy, ...duplicate] }), policy, afterHealthy);
    expect(result.verdict).toBe('promote');
    expect(result.summary.periodsUsed).toBe(29);
    expect(result.summary.periodsDiscarded).toBe(32);
  });

  it('is deterministic', () => {
    const input = evidence({ periods: healthy });
    expect(judge(input, policy, afterHealthy)).toEqual(judge(input, policy, afterHealthy));
  });
});

describe('the margins a step must rule out', () => {
  it('error rate: max(ratio × baseline, baseline + increase), scaled by the exposure of the next step', () => {
    const bounds = [0, 1, 2].map((step) => canaryRateBound(policy, step, 0.005));
    // Last step: max(2 × 0.5 %, 0.5 % + 1 point) = 1.5 %; before it the excess grows as 100 / w_next.
    expect(bounds[2]).toBeCloseTo(0.015);
    expect(bounds[1]).toBeCloseTo(0.005 + 0.01 * 2);
    expect(bounds[0]).toBeCloseTo(0.005 + 0.01 * 4);
    // A 2 % baseline: the ratio dominates.
    expect(canaryRateBound(policy, 2, 0.02)).toBeCloseTo(0.04);
    // Zero errors: the absolute margin alone.
    expect(canaryRateBound(policy, 2, 0)).toBeCloseTo(0.01);
  });

  it('p50 latency: the policy ratio at the last step, wider before it', () => {
    expect([0, 1, 2].map((step) => latencyRatioToRuleOut(policy, step))).toEqual([
      expect.closeTo(1.8),
      expect.closeTo(1.4),
      expect.closeTo(1.2),
    ]);
  });
});
