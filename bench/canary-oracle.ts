/**
 * The oracle: Wald's sequential probability ratio tests with the world's truth in hand, the best any
 * test could do on the same late CloudWatch minutes under the same policy. It knows the baseline's error
 * rate and latency distribution exactly, and the canary's true behaviour; it reads each minute as soon
 * as CloudWatch's complete datapoint is visible (it knows which are complete, so it never waits a fixed
 * lag and never misreads a partial one), and walks the policy's steps by the policy's margins.
 *
 * Three families, each on the canary's requests from CloudWatch's per-minute counts: its 5xx errors,
 * its requests above the baseline's true p50 and above the baseline's true p99.
 * - Rollback: per family, the baseline's value (rate; share 0.5; share 0.01) against the canary's true
 *   one where it is worse (else the policy's margin), over every minute; any family crossing
 *   ln((1 − β)/(α/3)) rolls back.
 * - Promotion from a step: per family, the step's margin (the judge's exposure-scaled bound of the error
 *   rate at the baseline's true rate; a canary latencyRegressionRatio·100/w_next slower at the p50; a
 *   tailLatencyMarginRatio p99, before the last promotion only) against the canary's true value, over
 *   the step's minutes; every family crossing ln((1 − β)/α) promotes. A canary at or beyond a step's
 *   margin is never promoted from it. α = β = the policy's alpha.
 */
import { canaryRateBound } from '../services/rollout/evidence/errors';
import {
  DEFAULT_TAIL_LATENCY_MARGIN_RATIO,
  nextStepWeight,
  type RolloutPolicy,
} from '../services/rollout/policy';
import { drive } from './canary-analyses';
import { normalQuantile } from './canary-sim';
import { latencyAt, latencyCdf, type Scenario, type Sim, type TrialResult } from './canary-world';

/** One family's simple-vs-simple test: the share of "bad" requests under the null and the alternative. */
export interface OracleTest {
  readonly p0: number;
  readonly p1: number;
}

/** The log-likelihood ratio of `bad` of `n` requests under p1 against p0. */
function logRatio(test: OracleTest, n: number, bad: number): number {
  const { p0, p1 } = test;
  if (p1 === p0) return 0;
  const term = (count: number, a: number, b: number) => (count === 0 ? 0 : count * Math.log(a / b));
  return term(bad, p1, p0) + term(n - bad, 1 - p1, 1 - p0);
}

/** The baseline's true p50 and p99 (ms): the latency thresholds the oracle counts requests above. */
export function oracleThresholds(sim: Sim): readonly [number, number] {
  return [latencyAt(sim, 0, false), latencyAt(sim, normalQuantile(0.99), false)];
}

/** The canary's true share of bad requests per family (errors, above p50, above p99), in a scenario. */
function shares(sim: Sim, scenario: Scenario): readonly [number, number, number] {
  const [p50, p99] = oracleThresholds(sim);
  const above = (v: number) => 1 - latencyCdf({ ...sim, scenario }, v, true);
  return [scenario.canaryError, above(p50), above(p99)];
}

/** The rollback tests: the baseline's value against the canary's true one where it is worse. */
export function oracleRollbackTests(sim: Sim, policy: RolloutPolicy): readonly OracleTest[] {
  const base = sim.world.baselineError;
  const { scenario } = sim;
  const truth = shares(sim, scenario);
  const slower = scenario.latencyShift > 1;
  const margin = shares(sim, {
    ...scenario,
    canaryError: Math.max(policy.errorRegression.ratio * base, base + policy.errorRegression.increase),
    latencyShift: policy.latencyRegressionRatio,
    tailShift: policy.tailLatencyMarginRatio ?? DEFAULT_TAIL_LATENCY_MARGIN_RATIO,
  });
  return [
    { p0: base, p1: scenario.canaryError > base ? truth[0] : margin[0] },
    { p0: 0.5, p1: slower ? truth[1] : margin[1] },
    { p0: 0.01, p1: slower || scenario.tailShift > 1 ? truth[2] : margin[2] },
  ];
}

/**
 * The promotion tests from `stepIndex`: the step's margin against the canary's truth; null where the
 * canary is at or beyond the margin (it can never be shown inside it); undefined where the step needs
 * none (the p99 is tested before the last promotion only).
 */
export function oraclePromoteTests(
  sim: Sim,
  policy: RolloutPolicy,
  stepIndex: number,
): readonly (OracleTest | null | undefined)[] {
  const base = sim.world.baselineError;
  const exposure = 100 / nextStepWeight(policy, stepIndex);
  const last = nextStepWeight(policy, stepIndex) === 100;
  const truth = shares(sim, sim.scenario);
  const margin = shares(sim, {
    ...sim.scenario,
    canaryError: canaryRateBound(policy, stepIndex, base),
    latencyShift: 1 + (policy.latencyRegressionRatio - 1) * exposure,
    tailShift: policy.tailLatencyMarginRatio ?? DEFAULT_TAIL_LATENCY_MARGIN_RATIO,
  });
  const test = (i: number) => (truth[i] < margin[i] ? { p0: margin[i], p1: truth[i] } : null);
  return [test(0), test(1), last ? test(2) : undefined];
}

/** One oracle rollout over the policy's steps. */
export function simulateOracle(sim: Sim, policy: RolloutPolicy): TrialResult {
  const rollbackTests = oracleRollbackTests(sim, policy);
  const alpha = policy.alpha;
  const rollbackAt = Math.log((1 - alpha) / (alpha / rollbackTests.length));
  const promoteAt = Math.log((1 - alpha) / alpha);
  const promoteTests = policy.steps.map((_, i) => oraclePromoteTests(sim, policy, i));
  let step = 0;
  let stepStart = 0;
  return drive(
    sim,
    policy.deadlineMinutes,
    (t, endpoint) => {
      const rollback = [0, 0, 0];
      const promote = [0, 0, 0];
      for (let m = 0; m < t; m++) {
        const minute = endpoint.minutes[m];
        if (t < minute.completeAt) continue;
        const { invocations: n, errors, atOrBelow } = minute.complete.canary;
        if (!n) continue;
        const [le50, le99] = atOrBelow ?? [null, null];
        const bad = [errors ?? null, le50 === null ? null : n - le50, le99 === null ? null : n - le99];
        bad.forEach((count, i) => {
          if (count === null) return;
          rollback[i] += logRatio(rollbackTests[i], n, count);
          const test = promoteTests[step][i];
          if (m >= stepStart && test) promote[i] += logRatio(test, n, count);
        });
      }
      if (rollback.some((v) => v >= rollbackAt)) return 'rollback';
      const shown = promoteTests[step].every(
        (test, i) => test === undefined || (test !== null && promote[i] >= promoteAt),
      );
      if (t > stepStart && shown) {
        step += 1;
        stepStart = t;
      }
      return policy.steps[step] / 100;
    },
    oracleThresholds(sim),
  );
}
