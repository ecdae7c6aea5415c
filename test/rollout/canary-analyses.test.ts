import { classifyIncrease, FLAGGER, KAYENTA, mannWhitneyInterval } from '../../bench/canary-analyses';
import { oraclePromoteTests, oracleRollbackTests } from '../../bench/canary-oracle';
import { runScenario } from '../../bench/canary-report';
import { simFor, type Scenario, type World } from '../../bench/canary-world';
import { PROD_ROLLOUT_POLICY } from '../../services/rollout/policy';
import { mulberry32 } from '../../scripts/seeded-random';

const world: World = {
  rate: 100,
  baselineError: 0.005,
  latencySigma: 1,
  overdispersion: 0,
  cloudwatch: 'ideal',
  traffic: 'off',
};
const options = { trials: 20, seed: 3, policy: 'prod' as const };
const scenario = (name: string, canaryError: number, latencyShift = 1, tailShift = 1): Scenario => ({
  name,
  canaryError,
  latencyShift,
  tailShift,
});

describe('Mann-Whitney interval (R wilcox.test, normal approximation)', () => {
  const y = Array.from({ length: 10 }, (_, i) => i + 1 + 0.1 * ((i * i) % 7));
  const x = y.map((v) => v + 3);

  it('estimates a pure shift exactly and brackets it', () => {
    const interval = mannWhitneyInterval(x, y, 0.98)!;
    expect(interval.estimate).toBeCloseTo(3, 6);
    expect(interval.lower).toBeLessThan(3);
    expect(interval.upper).toBeGreaterThan(3);
  });

  it('puts the 98 % bounds at the order statistics of the pairwise differences the normal approximation names', () => {
    const differences = x.flatMap((a) => y.map((b) => a - b)).sort((a, b) => a - b);
    // mn/2 − z·sqrt(mn(m+n+1)/12) − ½ = 50 − 2.326·13.23 − 0.5 ≈ 18.7: between the 18th and 20th.
    const { lower, upper } = mannWhitneyInterval(x, y, 0.98)!;
    // The statistic steps at each difference, so a bound is one of them (to the bisection's precision).
    expect(lower).toBeGreaterThanOrEqual(differences[17] - 1e-9);
    expect(lower).toBeLessThanOrEqual(differences[19] + 1e-9);
    expect(upper).toBeGreaterThanOrEqual(differences[80] - 1e-9);
    expect(upper).toBeLessThanOrEqual(differences[82] + 1e-9);
  });

  it('has no interval when every observation is tied', () => {
    expect(mannWhitneyInterval([0, 0, 0], [0, 0], 0.98)).toBeNull();
  });
});

describe("Kayenta's classifier", () => {
  const baseline = [10, 12, 9, 11, 13, 10, 12, 11, 9, 10, 12, 11];
  it('calls a clearly higher canary High, an equal or lower one Pass, and no data Nodata', () => {
    expect(
      classifyIncrease(
        baseline.map((v) => v * 1.5),
        baseline,
      ),
    ).toBe('High');
    expect(classifyIncrease([...baseline].reverse(), baseline)).toBe('Pass');
    expect(
      classifyIncrease(
        baseline.map((v) => v * 0.7),
        baseline,
      ),
    ).toBe('Pass');
    expect(classifyIncrease([], baseline)).toBe('Nodata');
  });
});

describe('the anchors in the benchmark world', () => {
  it('Kayenta judges only at its interval, on a growing window, and fails a 10× canary', () => {
    const row = runScenario('kayenta', scenario('bad', 0.05), { ...world, rate: 10 }, options);
    expect(row.detectionRate).toBe(1);
    expect(row.medianMinutesToDetect! % KAYENTA.intervalMinutes).toBe(0);
  });

  it('Argo rolls back at the fourth failed measurement (failureLimit 3, strict)', () => {
    // Ideal CloudWatch: minute 0 is visible at minute 2, and every measurement from then on fails.
    const row = runScenario('argo', scenario('bad', 0.05), world, options);
    expect(row.detectionRate).toBe(1);
    expect(row.medianMinutesToDetect).toBe(5);
  });

  it('Flagger walks stepWeight to maxWeight a check a minute; no datapoint yet is a failed check', () => {
    const row = runScenario('flagger', scenario('good', 0), { ...world, baselineError: 0 }, options);
    expect(row.falseRollbackRate).toBe(0);
    // Weight 5 at minute 0, a failed check at 1 (nothing published), 10 … 50 at 2 … 10, promoted at 11.
    expect(row.medianMinutesTo100).toBe(FLAGGER.maxWeight / FLAGGER.stepWeight + 1.5);
  });

  it('the oracle rolls back on the truth and promotes a step by the policy’s margin for that step', () => {
    const sim = (s: Scenario) => simFor(world, s, mulberry32(1));
    const [errors, p50, p99] = oracleRollbackTests(sim(scenario('bad', 0.05)), PROD_ROLLOUT_POLICY);
    expect(errors).toEqual({ p0: 0.005, p1: 0.05 });
    // Not slower: the alternatives are the policy's margins. A 1.2× slower canary (σ 1) has
    // Φ(ln 1.2) = 0.5723 of its requests above the baseline's median; a 2× p99 more than 1 % above its p99.
    expect(p50).toEqual({ p0: 0.5, p1: expect.closeTo(0.5723, 3) });
    expect(p99.p0).toBe(0.01);
    expect(p99.p1).toBeGreaterThan(0.03);
    // From 5 % (next 25 %) a 3× canary of 0.5 % is inside the step's bound 0.5 % + 1 % × 4 …
    const [first] = oraclePromoteTests(sim(scenario('3x', 0.015)), PROD_ROLLOUT_POLICY, 0);
    expect(first).toEqual({ p0: expect.closeTo(0.045, 9), p1: 0.015 });
    // … but never inside the last step's margin, max(2 × 0.5 %, 0.5 % + 1 %), and a 10× one never at all.
    expect(oraclePromoteTests(sim(scenario('3x', 0.015)), PROD_ROLLOUT_POLICY, 2)[0]).toBeNull();
    expect(oraclePromoteTests(sim(scenario('bad', 0.05)), PROD_ROLLOUT_POLICY, 0)[0]).toBeNull();
    // The p99 margin binds only before the last promotion.
    expect(oraclePromoteTests(sim(scenario('good', 0.005)), PROD_ROLLOUT_POLICY, 0)[2]).toBeUndefined();
  });

  it('the oracle rolls a 10× canary back with fewer canary requests than our judge needs', () => {
    const bad = scenario('bad', 0.05);
    const oracle = runScenario('oracle', bad, { ...world, rate: 10, cloudwatch: 'realistic' }, options);
    const ours = runScenario('ours', bad, { ...world, rate: 10, cloudwatch: 'realistic' }, options);
    expect(oracle.detectionRate).toBe(1);
    expect(oracle.medianCanaryRequestsBeforeRollback!).toBeLessThan(ours.medianCanaryRequestsBeforeRollback!);
  });
});
