import {
  canaryRateBound,
  judgeErrors,
  PROMOTION_HOLD_LOG_EVIDENCE,
} from '../../../services/rollout/evidence/errors';
import type { UsablePeriod } from '../../../services/rollout/evidence/periods';
import { createRolloutPolicy, PROD_ROLLOUT_POLICY } from '../../../services/rollout/policy';

const policy = createRolloutPolicy(PROD_ROLLOUT_POLICY);
const ALPHA = 0.5 * policy.alpha;
const minutes = (count: number, nA: number, eA: number, nB: number, eB: number): UsablePeriod[] =>
  Array.from({ length: count }, (_, i) => ({
    start: i * 60_000,
    nA,
    eA,
    nB,
    eB,
    latA: null,
    latB: null,
    baseline: {},
    canary: {},
  }));

describe('the error family', () => {
  it('rolls back ten times the baseline error rate and says by how much', () => {
    const result = judgeErrors(minutes(10, 950, 5, 50, 5), null, policy, 0, ALPHA);
    expect(result.rollback).toMatch(/5xx rate is significantly higher than baseline \(ratio ≈ 1\d/);
    expect(result.test.rollbackLogEvidence).toBeGreaterThanOrEqual(result.logThresholds.rollback);
  });

  it('without an hour before, starts the canary’s dispersion from the policy’s prior: a steadier one rolls back sooner', () => {
    // Three minutes of a 50 % canary at ten times a 0.5 % baseline, 600 requests a minute each.
    const periods = minutes(3, 600, 3, 600, 30);
    const cautious = judgeErrors(periods, null, policy, 0, ALPHA);
    const steady = judgeErrors(periods, null, { ...policy, errorDispersionPriorCv2: 0.25 }, 0, ALPHA);
    expect(policy.errorDispersionPriorCv2).toBe(1);
    expect(steady.test.rollbackLogEvidence).toBeGreaterThan(cautious.test.rollbackLogEvidence);
    // With an hour before the rollout, its minutes decide the prior and the policy's is not used.
    const hour = Array.from({ length: 60 }, () => ({ invocations: 600, errors: 3 }));
    expect(judgeErrors(periods, hour, { ...policy, errorDispersionPriorCv2: 0.25 }, 0, ALPHA).test).toEqual(
      judgeErrors(periods, hour, policy, 0, ALPHA).test,
    );
  });

  it('shows an equal canary within the last step’s margin and neither rolls back nor holds it', () => {
    const result = judgeErrors(minutes(30, 3000, 15, 3000, 15), null, policy, 2, ALPHA);
    expect(result.rollback).toBeNull();
    expect(result.leans).toBe(false);
    expect(result.missing).toEqual([]);
    expect(result.test.canaryRateUpperBound).toBeLessThan(result.test.canaryRateBound);
  });

  it('holds a promotion while a doubled rate leans towards a regression, before it is significant', () => {
    const result = judgeErrors(minutes(8, 1000, 5, 1000, 10), null, policy, 2, ALPHA);
    expect(result.rollback).toBeNull();
    expect(result.test.rollbackLogEvidence).toBeGreaterThanOrEqual(PROMOTION_HOLD_LOG_EVIDENCE);
    expect(result.leans).toBe(true);
    expect(result.missing[0]).toMatch(/leans towards a regression/);
  });

  it('cannot promote without canary requests', () => {
    const result = judgeErrors(minutes(10, 1000, 5, 0, 0), null, policy, 0, ALPHA);
    expect(result.missing.join()).toMatch(/not yet shown below/);
    expect(result.canary.errorRate).toBeNull();
  });

  it('bounds the canary by max(ratio × baseline, baseline + increase) at the last step', () => {
    expect(canaryRateBound(policy, 2, 0.005)).toBeCloseTo(0.015, 10);
    expect(canaryRateBound(policy, 2, 0.02)).toBeCloseTo(0.04, 10);
    // The first step (to 25 %) rules out four times the excess.
    expect(canaryRateBound(policy, 0, 0.005)).toBeCloseTo(0.045, 10);
  });
});
