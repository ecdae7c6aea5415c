import { parseArgs, UsageError } from '../../bench/canary';
import { runBench, runScenario, type BenchOptions } from '../../bench/canary-report';
import { percentileLevels, poisson, rateMultiplier } from '../../bench/canary-sim';
import { GUARDRAILS_CANARY, STRATEGIES } from '../../bench/canary-strategies';
import type { World } from '../../bench/canary-world';
import { mulberry32 } from '../../scripts/seeded-random';
import { DEV_ROLLOUT_TRAFFIC, PROD_ROLLOUT_TRAFFIC } from '../../services/traffic/config';

const options: BenchOptions = {
  rate: 10,
  baselineError: 0.005,
  latencySigma: 1,
  overdispersion: 0,
  cloudwatch: 'realistic',
  traffic: 'off',
  policy: 'prod',
  trials: 30,
  seed: 7,
  strategies: STRATEGIES,
  grid: false,
  json: true,
};

const FIELDS = [
  'strategy',
  'scenario',
  'rate',
  'baselineError',
  'latencySigma',
  'overdispersion',
  'canaryOverdispersion',
  'cloudwatch',
  'traffic',
  'trafficRate',
  'policy',
  'trials',
  'detectionRate',
  'medianMinutesToDetect',
  'medianCanaryRequestsBeforeRollback',
  'falseRollbackRate',
  'medianMinutesTo100',
  'deadlineRate',
  'promotedRate',
  'lateRollbackRate',
  'medianMinutesToVerdict',
  'medianSyntheticRequests',
  'baselineAccuracy',
  'canaryAccuracyDrop',
  'canaryLabelShift',
  'labelledPerMinute',
  'firstStepDetectionRate',
];

describe('canary benchmark', () => {
  let rows: ReturnType<typeof runBench>;
  beforeAll(() => {
    rows = runBench({
      ...options,
      strategies: ['guardrails-canary', 'codedeploy-canary', 'codedeploy-linear'],
    });
  });
  const row = (strategy: string, scenario: string) =>
    rows.find((r) => r.strategy === strategy && r.scenario === scenario)!;

  it('produces one row per strategy and standard scenario with exactly the documented fields', () => {
    expect(rows.map((r) => r.scenario).slice(0, 7)).toEqual([
      'bad-10x-errors',
      'subtle-3x-errors',
      'errors-2x',
      'good',
      'latency-1.5x',
      'latency-at-threshold',
      'tail-p99-2x',
    ]);
    for (const r of rows) expect(Object.keys(r).sort()).toEqual([...FIELDS].sort());
  });

  it('runs the anchors on their fixed schedules, gated only by the deployed alarms', () => {
    expect(row('codedeploy-canary', 'good').medianMinutesTo100).toBe(5.5);
    expect(row('codedeploy-linear', 'good').medianMinutesTo100).toBe(9.5);
    expect(row('guardrails-canary', 'good').medianMinutesTo100).toBe(GUARDRAILS_CANARY.steps[1].minute + 0.5);
    // A 3x error regression at 0.5 % is far below the 10 % alarm: the anchors ship it.
    expect(row('codedeploy-canary', 'subtle-3x-errors').promotedRate).toBeGreaterThan(0.9);
    // The detection rate counts only rollbacks before 100 %.
    for (const r of rows) {
      if (r.detectionRate !== null)
        expect(r.detectionRate + r.promotedRate + r.lateRollbackRate + r.deadlineRate).toBeCloseTo(1);
    }
  });

  it('counts a catastrophic canary rolled back by the deployed 5xx alarm as detected', () => {
    const world: World = { ...options, rate: 10 };
    const broken = { name: 'broken', canaryError: 0.5, latencyShift: 1, tailShift: 1 };
    const result = runScenario('guardrails-linear', broken, world, { ...options, trials: 20 });
    expect(result.detectionRate).toBe(1);
    expect(result.medianCanaryRequestsBeforeRollback).toBeGreaterThan(0);
  });

  it('is reproducible for a seed', () => {
    const custom = { ...options, trials: 5, canaryError: 0.05, strategies: ['ours' as const] };
    const once = runBench(custom);
    expect(once.map((r) => r.scenario)).toEqual(['custom']);
    expect(runBench(custom)).toEqual(once);
  });

  it('models the traffic source: with no users, dev `always` traffic promotes a good candidate', () => {
    const good = { name: 'good', canaryError: 0.005, latencyShift: 1, tailShift: 1 };
    const world: World = { ...options, rate: 0, traffic: 'always' };
    const result = runScenario('ours', good, world, { ...options, policy: 'dev', trials: 21 });
    // Dev judges a 50 % canary of the source's rate: nearly every good candidate promotes, in a
    // quarter of an hour, and a 10× one is rolled back within six minutes (issue 25's lead time).
    expect(result.promotedRate).toBeGreaterThanOrEqual(0.9);
    expect(result.medianMinutesTo100).toBeLessThanOrEqual(15);
    const bad = runScenario('ours', { ...good, name: 'bad', canaryError: 0.05 }, world, {
      ...options,
      policy: 'dev',
      trials: 21,
    });
    expect(bad.detectionRate).toBe(1);
    expect(bad.medianMinutesToDetect).toBeLessThanOrEqual(6);
    // The source's rate for every whole minute before the promotion took effect (30 s after the verdict).
    expect(result.trafficRate).toBe(DEV_ROLLOUT_TRAFFIC.requestsPerSecond);
    expect(result.medianSyntheticRequests).toBe(
      (result.medianMinutesToVerdict - 0.5) * DEV_ROLLOUT_TRAFFIC.requestsPerSecond * 60,
    );
    const silent = runScenario(
      'ours',
      good,
      { ...world, traffic: 'off' },
      { ...options, policy: 'dev', trials: 3 },
    );
    expect(silent.deadlineRate).toBe(1);
  });

  it('tops up only the requests missing below the floor', () => {
    const good = { name: 'good', canaryError: 0.005, latencyShift: 1, tailShift: 1 };
    const busy = runScenario(
      'codedeploy-canary',
      good,
      { ...options, rate: 10, traffic: 'top-up', labelledPerMinute: 0 },
      options,
    );
    expect(busy.medianSyntheticRequests).toBe(0);
    // Above the floor it still sends the labelled stream, 60 a minute.
    const labelled = runScenario(
      'codedeploy-canary',
      good,
      { ...options, rate: 10, traffic: 'top-up' },
      options,
    );
    expect(labelled.medianSyntheticRequests % 60).toBe(0);
    expect(labelled.medianSyntheticRequests).toBeGreaterThan(0);
    const thin = runScenario(
      'codedeploy-canary',
      good,
      { ...options, rate: 0.2, traffic: 'top-up' },
      options,
    );
    // 12 organic requests a minute on average: the rest of the floor, synthetic, for 6 minutes.
    const { floorRequestsPerMinute, requestsPerSecond } = PROD_ROLLOUT_TRAFFIC;
    const perMinute = Math.min(requestsPerSecond * 60, (floorRequestsPerMinute ?? 0) - 12);
    expect(thin.medianSyntheticRequests).toBeGreaterThan(0.8 * 6 * perMinute);
    expect(thin.medianSyntheticRequests).toBeLessThan(1.1 * 6 * perMinute);
  });
});

describe('canary benchmark: prediction quality', () => {
  it('rolls a label-shifted candidate back at the first step, and none of its equal twins', () => {
    const world: World = {
      rate: 10,
      baselineError: 0.005,
      latencySigma: 1,
      overdispersion: 0,
      cloudwatch: 'realistic',
      traffic: 'off',
    };
    const scenario = (quality: { accuracyDrop?: number; labelShift?: number }) => ({
      name: 'q',
      canaryError: 0.005,
      latencyShift: 1,
      tailShift: 1,
      quality,
    });
    const shifted = runScenario('ours', scenario({ accuracyDrop: 0.973 }), world, options);
    expect(shifted).toMatchObject({
      detectionRate: 1,
      firstStepDetectionRate: 1,
      canaryAccuracyDrop: 97.3,
      labelledPerMinute: 60,
    });
    // Without the labelled stream nothing sees it: it keeps the predicted-class distribution.
    const unlabelled = runScenario(
      'ours',
      scenario({ accuracyDrop: 0.973 }),
      { ...world, labelledPerMinute: 0 },
      options,
    );
    expect(unlabelled.promotedRate).toBe(1);
    const guardrails = runScenario('guardrails-canary', scenario({ accuracyDrop: 0.973 }), world, options);
    expect(guardrails.promotedRate).toBe(1);
  });
});

describe('random variates', () => {
  it.each([0.3, 12, 45, 6000])('poisson has mean and variance close to %d', (mean) => {
    const random = mulberry32(42);
    const samples = Array.from({ length: 20_000 }, () => poisson(mean, random));
    const avg = samples.reduce((a, b) => a + b, 0) / samples.length;
    const variance = samples.reduce((a, b) => a + (b - avg) ** 2, 0) / samples.length;
    expect(Math.abs(avg - mean)).toBeLessThan(4 * Math.sqrt(mean / samples.length) + 1e-9);
    expect(variance / mean).toBeGreaterThan(0.95);
    expect(variance / mean).toBeLessThan(1.05);
  });

  it('rate multipliers have mean 1 and the requested coefficient of variation', () => {
    const random = mulberry32(3);
    for (const cv of [0.5, 1]) {
      const xs = Array.from({ length: 40_000 }, () => rateMultiplier(cv, random));
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
      expect(mean).toBeCloseTo(1, 1);
      expect(sd / mean).toBeCloseTo(cv, 1);
    }
    expect(rateMultiplier(0, random)).toBe(1);
  });

  it('percentile levels are the nearest-rank order statistics of uniforms', () => {
    const random = mulberry32(5);
    // p99 of 30 requests is their maximum: E[U(30:30)] = 30/31; p50 is the 15th: E = 15/31.
    const draws = Array.from({ length: 20_000 }, () => percentileLevels(30, random));
    const mean = (f: (d: { u50: number; u99: number }) => number) =>
      draws.reduce((a, d) => a + f(d), 0) / draws.length;
    expect(mean((d) => d.u99)).toBeCloseTo(30 / 31, 2);
    expect(mean((d) => d.u50)).toBeCloseTo(15 / 31, 2);
    expect(draws.every((d) => d.u99 >= d.u50)).toBe(true);
  });
});

describe('parseArgs', () => {
  it('reads every flag in both --flag value and --flag=value forms', () => {
    expect(
      parseArgs([
        '--rate=0',
        '--baseline-error',
        '0.01',
        '--canary-error',
        '0.03',
        '--latency-shift=1.2',
        '--tail-shift',
        '2',
        '--latency-sigma=1.5',
        '--overdispersion',
        '0.5',
        '--canary-overdispersion=1',
        '--cloudwatch',
        'ideal',
        '--traffic=top-up',
        '--traffic-rate',
        '1.5',
        '--labelled-rate=0.5',
        '--baseline-accuracy',
        '0.9',
        '--canary-accuracy-drop',
        '5',
        '--canary-label-shift=0.1',
        '--policy',
        'dev',
        '--trials',
        '50',
        '--seed=9',
        '--strategy',
        'guardrails-linear',
        '--grid',
        '--json',
      ]),
    ).toEqual({
      rate: 0,
      baselineError: 0.01,
      canaryError: 0.03,
      latencyShift: 1.2,
      tailShift: 2,
      latencySigma: 1.5,
      overdispersion: 0.5,
      canaryOverdispersion: 1,
      cloudwatch: 'ideal',
      traffic: 'top-up',
      trafficRate: 1.5,
      labelledPerMinute: 30,
      baselineAccuracy: 0.9,
      canaryAccuracyDrop: 0.05,
      canaryLabelShift: 0.1,
      policy: 'dev',
      trials: 50,
      seed: 9,
      strategies: ['guardrails-linear'],
      grid: true,
      json: true,
    });
    expect(parseArgs(['--help'])).toBe('help');
    expect(parseArgs([])).toMatchObject({
      cloudwatch: 'realistic',
      traffic: 'off',
      latencySigma: 1,
      overdispersion: 0,
    });
  });

  it('rejects unknown flags and bad values with a message naming the flag', () => {
    expect(() => parseArgs(['--rate', '-1'])).toThrow(
      new UsageError('--rate must be a number of requests per second >= 0, got -1'),
    );
    expect(() => parseArgs(['--strategy', 'spinnaker'])).toThrow(/--strategy must be one of/);
    expect(() => parseArgs(['--cloudwatch', 'perfect'])).toThrow(
      '--cloudwatch must be one of realistic, ideal; got perfect',
    );
    expect(() => parseArgs(['--speed', '1'])).toThrow('unknown flag --speed');
    expect(() => parseArgs(['--canary-label-shift', '0.5'])).toThrow(
      '--canary-label-shift must be a total variation in [0, 1/3], got 0.5',
    );
  });
});
