import type { UsablePeriod, VariantPeriodMetrics } from '../../../services/rollout/evidence/periods';
import { judgeQuality, rateBounds } from '../../../services/rollout/evidence/quality';
import { createRolloutPolicy, PROD_ROLLOUT_POLICY } from '../../../services/rollout/policy';

const policy = createRolloutPolicy(PROD_ROLLOUT_POLICY);
const config = { classes: ['setosa', 'versicolor', 'virginica'] };
const ALPHA = { accuracy: 0.1 * policy.alpha, distribution: 0.1 * policy.alpha };
const LAST = 2; // the step that promotes to 100 %

function minutes(
  count: number,
  baseline: VariantPeriodMetrics,
  canary: VariantPeriodMetrics,
): UsablePeriod[] {
  return Array.from({ length: count }, (_, i) => ({
    start: i * 60_000,
    nA: 0,
    eA: 0,
    nB: 0,
    eB: 0,
    latA: null,
    latB: null,
    baseline,
    canary,
  }));
}
const labelled = (n: number, correct: number): VariantPeriodMetrics => ({ labelled: n, correct });
const predicted = (...counts: number[]): VariantPeriodMetrics => ({ predicted: counts });

describe('rateBounds (beta-binomial confidence sequence)', () => {
  it('brackets the observed rate and narrows with the count', () => {
    const few = rateBounds(2, 100, Math.log(100));
    const many = rateBounds(200, 10_000, Math.log(100));
    expect(few.lower).toBeLessThan(0.02);
    expect(few.upper).toBeGreaterThan(0.02);
    expect(many.lower).toBeGreaterThan(few.lower);
    expect(many.upper).toBeLessThan(few.upper);
    expect(many.upper - many.lower).toBeLessThan(0.02);
  });

  it('knows nothing without data, and never excludes 0 without a success', () => {
    expect(rateBounds(0, 0, 5)).toEqual({ lower: 0, upper: 1 });
    expect(rateBounds(0, 50, 5).lower).toBe(0);
  });
});

describe('the quality family: accuracy on labelled traffic', () => {
  it('rolls back a label-shifted canary after a handful of labelled answers', () => {
    // A 5 % canary at 60 labelled answers a minute: 3 a minute, all wrong; the baseline 98 % right.
    const result = judgeQuality(minutes(2, labelled(57, 56), labelled(3, 0)), config, policy, 0, ALPHA);
    expect(result.rollback).toMatch(
      /canary accuracy is significantly more than 1 points below baseline \(0 % of 6/,
    );
    expect(result.summary.accuracy.canary).toEqual({ labelled: 6, correct: 0, accuracy: 0 });
  });

  it('neither rolls back nor holds a canary exactly as accurate as the baseline', () => {
    const result = judgeQuality(
      minutes(60, labelled(300, 294), labelled(300, 294)),
      config,
      policy,
      LAST,
      ALPHA,
    );
    expect(result.rollback).toBeNull();
    expect(result.leans).toBe(false);
    expect(result.summary.accuracy.differenceLowerBound).toBeLessThan(0);
  });

  it('holds a canary five points worse before the rollback test has seen enough, then rolls it back', () => {
    const held = judgeQuality(minutes(10, labelled(30, 29), labelled(30, 28)), config, policy, LAST, ALPHA);
    expect(held.rollback).toBeNull();
    const early = judgeQuality(
      minutes(10, labelled(100, 98), labelled(100, 93)),
      config,
      policy,
      LAST,
      ALPHA,
    );
    expect(early.rollback).toBeNull();
    expect(early.leans).toBe(true);
    expect(early.missing[0]).toMatch(/canary accuracy leans more than 1 points below baseline/);
    const late = judgeQuality(minutes(60, labelled(100, 98), labelled(100, 93)), config, policy, LAST, ALPHA);
    expect(late.rollback).toMatch(/accuracy/);
  });

  it('scales the hold with the exposure of the next step', () => {
    // 4 points worse: held before the last promotion (margin 1 point), not before 5 % → 25 % (4 points).
    const periods = minutes(30, labelled(100, 98), labelled(100, 94));
    expect(judgeQuality(periods, config, policy, LAST, ALPHA).leans).toBe(true);
    expect(judgeQuality(periods, config, policy, 0, ALPHA).leans).toBe(false);
  });

  it('skips a minute whose labelled counts are not counts instead of reading it', () => {
    const garbled = minutes(5, labelled(10, 12), labelled(3, 0));
    const result = judgeQuality(garbled, config, policy, 0, ALPHA);
    expect(result.summary.accuracy.baseline.labelled).toBe(0);
    expect(result.rollback).toBeNull();
  });
});

describe('the quality family: predicted-class distribution', () => {
  it('rolls back a canary that moved a fifth of its predictions to another class', () => {
    const result = judgeQuality(
      minutes(10, predicted(100, 100, 100), predicted(40, 160, 100)),
      config,
      policy,
      0,
      ALPHA,
    );
    expect(result.rollback).toMatch(/predicted-class distribution differs significantly/);
    expect(result.summary.tv).toBeCloseTo(0.2, 6);
  });

  it('promotes only once a shift of the margin is ruled out, scaled by the next step’s exposure', () => {
    const few = judgeQuality(
      minutes(2, predicted(100, 100, 100), predicted(10, 10, 10)),
      config,
      policy,
      LAST,
      ALPHA,
    );
    expect(few.rollback).toBeNull();
    expect(few.missing.join()).toMatch(
      /prediction distribution shift ≥ total variation 0.1 not yet ruled out/,
    );
    const many = judgeQuality(
      minutes(30, predicted(300, 300, 300), predicted(300, 300, 300)),
      config,
      policy,
      LAST,
      ALPHA,
    );
    expect(many.missing).toEqual([]);
    expect(many.summary.tvUpperBound).toBeLessThan(0.1);
    // Before 5 % → 25 % the margin is four times wider: a tenth of the data rules it out.
    const first = judgeQuality(
      minutes(3, predicted(300, 300, 300), predicted(30, 30, 30)),
      config,
      policy,
      0,
      ALPHA,
    );
    expect(first.summary.distribution.promoteTv).toBe(0.4);
    expect(first.missing).toEqual([]);
  });

  it('never promotes without answers to compare', () => {
    const result = judgeQuality([], config, policy, 0, ALPHA);
    expect(result.summary.tv).toBeNull();
    expect(result.summary.tvUpperBound).toBe(1);
    expect(result.missing).toHaveLength(1);
  });
});
