/**
 * The fast guard of the judge's calibration, run by `npm test`: the first null cell and the power cell of
 * test/rollout/calibration.test.ts at 40 trials (about 1 s of CPU). The full calibration (200 trials per
 * cell, every cell) is `npm run test:calibration`, which CI runs.
 */
import { runScenario, type World } from '../../bench/canary';
import { PROD_ROLLOUT_POLICY } from '../../services/rollout/policy';

const TRIALS = 40;
const world: World = {
  rate: 10,
  baselineError: 0.005,
  latencySigma: 1,
  overdispersion: 0,
  cloudwatch: 'realistic',
  traffic: 'off',
};
const run = (canaryError: number) =>
  runScenario(
    'ours',
    { name: `canary errors ${canaryError}`, canaryError, latencyShift: 1, tailShift: 1 },
    world,
    { trials: TRIALS, seed: 2026, policy: 'prod' },
    PROD_ROLLOUT_POLICY,
  );

describe('judge calibration, fast guard (seeded, 40 trials; the full run is npm run test:calibration)', () => {
  it('promotes a good canary (10 req/s, 0.5 % errors, σ 1): at most 4 of 40 rolled back', () => {
    // A judge at its 2 % budget rolls back 5 or more of 40 with probability < 1 %.
    const row = run(world.baselineError);
    expect(row.falseRollbackRate).toBeLessThanOrEqual(4 / TRIALS);
    expect(row.promotedRate).toBeGreaterThanOrEqual(1 - 4 / TRIALS);
  });

  it('rolls back a canary with ten times the error rate', () => {
    const row = run(10 * world.baselineError);
    expect(row.detectionRate).toBeGreaterThanOrEqual(0.9);
    expect(row.promotedRate).toBe(0);
  });
});
