import { parseArgs, poisson, runBench, STRATEGIES, UsageError, type BenchOptions } from '../../bench/canary';
import { mulberry32 } from '../../scripts/seeded-random';

const options: BenchOptions = {
  rate: 10,
  baselineError: 0.005,
  trials: 40,
  seed: 7,
  strategies: STRATEGIES,
  json: true,
};

describe('canary benchmark', () => {
  const rows = runBench(options);
  const row = (strategy: string, scenario: string) =>
    rows.find((r) => r.strategy === strategy && r.scenario === scenario)!;

  it('produces one row per strategy and standard scenario with exactly the documented fields', () => {
    expect(rows).toHaveLength(12);
    for (const r of rows) {
      expect(Object.keys(r).sort()).toEqual(
        [
          'detectionRate',
          'falseRollbackRate',
          'medianCanaryRequestsBeforeRollback',
          'medianMinutesTo100',
          'medianMinutesToDetect',
          'rate',
          'scenario',
          'strategy',
          'trials',
        ].sort(),
      );
      expect(r.trials).toBe(40);
    }
  });

  it('reports regression figures for bad canaries and promotion figures for the good one', () => {
    const bad = row('ours', 'bad-10x-errors');
    expect(bad.falseRollbackRate).toBeNull();
    expect(bad.medianMinutesTo100).toBeNull();
    expect(bad.detectionRate).toBeGreaterThanOrEqual(0.95);
    const good = row('ours', 'good');
    expect(good.detectionRate).toBeNull();
    expect(good.falseRollbackRate).toBeLessThanOrEqual(0.1);
    expect(good.medianMinutesTo100).toBeGreaterThan(5);
  });

  it('runs CodeDeploy canaries on their fixed schedules and never sees a latency-only regression as latency', () => {
    expect(row('codedeploy-canary', 'good').medianMinutesTo100).toBe(5.5);
    expect(row('codedeploy-linear', 'good').medianMinutesTo100).toBe(9.5);
    expect(row('codedeploy-canary', 'latency-1.5x').detectionRate).toBeLessThan(0.5);
  });

  it('is reproducible for a seed', () => {
    const once = runBench({ ...options, trials: 10, strategies: ['ours'] });
    expect(runBench({ ...options, trials: 10, strategies: ['ours'] })).toEqual(once);
  });

  it('runs a single custom scenario when a canary error rate is given', () => {
    const custom = runBench({ ...options, trials: 5, canaryError: 0.05, strategies: ['codedeploy-canary'] });
    expect(custom.map((r) => r.scenario)).toEqual(['custom']);
    expect(custom[0].detectionRate).not.toBeNull();
  });
});

describe('poisson', () => {
  it.each([0.3, 12, 45, 6000])('has mean and variance close to %d', (mean) => {
    const random = mulberry32(42);
    const samples = Array.from({ length: 20_000 }, () => poisson(mean, random));
    const avg = samples.reduce((a, b) => a + b, 0) / samples.length;
    const variance = samples.reduce((a, b) => a + (b - avg) ** 2, 0) / samples.length;
    expect(Math.abs(avg - mean)).toBeLessThan(4 * Math.sqrt(mean / samples.length) + 1e-9);
    expect(variance / mean).toBeGreaterThan(0.95);
    expect(variance / mean).toBeLessThan(1.05);
  });
});

describe('parseArgs', () => {
  it('reads every flag in both --flag value and --flag=value forms', () => {
    expect(
      parseArgs([
        '--rate=100',
        '--baseline-error',
        '0.01',
        '--canary-error',
        '0.03',
        '--latency-shift=1.2',
        '--trials',
        '50',
        '--seed=9',
        '--strategy',
        'codedeploy-linear',
        '--json',
      ]),
    ).toEqual({
      rate: 100,
      baselineError: 0.01,
      canaryError: 0.03,
      latencyShift: 1.2,
      trials: 50,
      seed: 9,
      strategies: ['codedeploy-linear'],
      json: true,
    });
    expect(parseArgs(['--help'])).toBe('help');
  });

  it('rejects unknown flags and bad values with a message naming the flag', () => {
    expect(() => parseArgs(['--rate', '-1'])).toThrow(
      new UsageError('--rate must be a positive number of requests per second, got -1'),
    );
    expect(() => parseArgs(['--strategy', 'flagger'])).toThrow(/--strategy must be one of/);
    expect(() => parseArgs(['--speed', '1'])).toThrow('unknown flag --speed');
  });
});
