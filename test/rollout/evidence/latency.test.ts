import { normalCdf } from '../../../bench/canary-sim';
import {
  judgeLatency,
  latencyThresholds,
  type LatencyReference,
} from '../../../services/rollout/evidence/latency';
import type { UsablePeriod } from '../../../services/rollout/evidence/periods';
import { createRolloutPolicy, PROD_ROLLOUT_POLICY } from '../../../services/rollout/policy';

const policy = createRolloutPolicy(PROD_ROLLOUT_POLICY);
const reference: LatencyReference = { p50: 40, p99: 400, periodStart: -3_600_000 };
const thresholds = latencyThresholds(policy, reference);
const ALPHA = { p50: 0.25 * policy.alpha, p99: 0.25 * policy.alpha };

/** Minutes where each variant has `slow` of its n requests above every threshold from `from` on. */
function minutes(
  count: number,
  n: number,
  slowA: (v: number) => number,
  slowB: (v: number) => number,
): UsablePeriod[] {
  const point = (slow: (v: number) => number) => ({
    samples: n,
    p50: 40,
    p99: 400,
    atOrBelow: thresholds.values.map((v) => n - slow(v)),
  });
  return Array.from({ length: count }, (_, i) => ({
    start: i * 60_000,
    nA: n,
    eA: 0,
    nB: n,
    eB: 0,
    latA: point(slowA),
    latB: point(slowB),
    baseline: {},
    canary: {},
  }));
}
/** Share of lognormal (σ 1) requests of median `median` above v. */
const shareAbove = (median: number) => (v: number) => 1 - normalCdf(Math.log(v / median));

describe('the latency family', () => {
  it('derives the thresholds from the reference and every ratio its tests use', () => {
    expect(thresholds.values).toEqual([40, 48, 56, 72, 400, 600, 800]);
  });

  it('rolls back a canary whose median is 1.5 × the baseline’s', () => {
    const n = 1000;
    const slow = (median: number) => (v: number) => Math.round(n * shareAbove(median)(v));
    const result = judgeLatency(minutes(10, n, slow(40), slow(60)), reference, thresholds, policy, 2, ALPHA);
    expect(result.rollback).toMatch(/p50 latency is significantly above 1.2× baseline/);
  });

  it('rules out the step’s margin for an equal canary, and never rolls it back', () => {
    const n = 1000;
    const slow = (v: number) => Math.round(n * shareAbove(40)(v));
    const result = judgeLatency(minutes(30, n, slow, slow), reference, thresholds, policy, 2, ALPHA);
    expect(result.rollback).toBeNull();
    expect(result.missing).toEqual([]);
  });

  it('has no evidence and blocks promotion without a reference', () => {
    const result = judgeLatency([], null, null, policy, 0, ALPHA);
    expect(result.rollback).toBeNull();
    expect(result.missing).toEqual(['no baseline latency reference yet, so latency cannot be judged']);
  });
});
