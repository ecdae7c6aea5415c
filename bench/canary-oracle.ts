/**
 * The oracle: Wald's sequential probability ratio test with the world's truth in hand, the best any
 * test could do on the same late CloudWatch minutes. It knows the baseline's error rate and latency
 * distribution exactly, and the canary's true behaviour; it reads each minute as soon as CloudWatch's
 * complete datapoint is visible (it knows which are complete, so it never waits a fixed lag and never
 * misreads a partial one), and walks the policy's steps.
 *
 * Three simple-vs-simple SPRTs on the canary's requests, one per family: its 5xx errors (rate p0 =
 * the baseline's), its requests above the baseline's true p50 (share 0.5) and above the baseline's
 * true p99 (share 0.01), each from CloudWatch's per-minute counts. Each family's alternative is the
 * canary's true value where it is worse, else the policy's margin there (errors: max(ratio × baseline,
 * baseline + increase); p50: latencyRegressionRatio × slower; p99: tailLatencyMarginRatio × the p99).
 * Any family crossing ln((1 − β)/(α/3)) rolls back; all three crossing ln(β/(1 − α)) promote to the
 * next step, where the tests start again. α = β = the policy's alpha.
 */
import { DEFAULT_TAIL_LATENCY_MARGIN_RATIO, type RolloutPolicy } from '../services/rollout/policy';
import { drive } from './canary-analyses';
import { normalQuantile } from './canary-sim';
import { latencyAt, latencyCdf, type Scenario, type Sim, type TrialResult } from './canary-world';

/** A binomial family's null and alternative shares of "bad" requests. */
interface Family {
  readonly p0: number;
  readonly p1: number;
}

/** The log-likelihood ratio of `bad` of `n` requests under p1 against p0. */
function logRatio(family: Family, n: number, bad: number): number {
  const { p0, p1 } = family;
  if (p1 === p0) return 0;
  const good = n - bad;
  const term = (count: number, a: number, b: number) => (count === 0 ? 0 : count * Math.log(a / b));
  return term(bad, p1, p0) + term(good, 1 - p1, 1 - p0);
}

/** The oracle's three families for this world, scenario and policy. */
export function oracleFamilies(sim: Sim, policy: RolloutPolicy): readonly [Family, Family, Family] {
  const base = sim.world.baselineError;
  const { scenario } = sim;
  const errorMargin = Math.max(policy.errorRegression.ratio * base, base + policy.errorRegression.increase);
  const thresholds = oracleThresholds(sim);
  const above = (s: Scenario, v: number) => 1 - latencyCdf({ ...sim, scenario: s }, v, true);
  const p50Margin: Scenario = { ...scenario, latencyShift: policy.latencyRegressionRatio, tailShift: 1 };
  const p99Margin: Scenario = {
    ...scenario,
    latencyShift: 1,
    tailShift: policy.tailLatencyMarginRatio ?? DEFAULT_TAIL_LATENCY_MARGIN_RATIO,
  };
  const slower = scenario.latencyShift > 1;
  return [
    { p0: base, p1: scenario.canaryError > base ? scenario.canaryError : errorMargin },
    { p0: 0.5, p1: above(slower ? scenario : p50Margin, thresholds[0]) },
    { p0: 0.01, p1: above(slower || scenario.tailShift > 1 ? scenario : p99Margin, thresholds[1]) },
  ];
}

/** The baseline's true p50 and p99 (ms): the latency thresholds the oracle counts requests above. */
export function oracleThresholds(sim: Sim): readonly [number, number] {
  return [latencyAt(sim, 0, false), latencyAt(sim, normalQuantile(0.99), false)];
}

/** One oracle rollout over the policy's steps. */
export function simulateOracle(sim: Sim, policy: RolloutPolicy): TrialResult {
  const families = oracleFamilies(sim, policy);
  const alpha = policy.alpha;
  const upper = Math.log((1 - alpha) / (alpha / families.length));
  const lower = Math.log(alpha / (1 - alpha));
  let step = 0;
  let stepStart = 0;
  return drive(
    sim,
    policy.deadlineMinutes,
    (t, endpoint) => {
      const llr = [0, 0, 0];
      for (let m = stepStart; m < t; m++) {
        const minute = endpoint.minutes[m];
        if (t < minute.completeAt) continue;
        const { invocations, errors, atOrBelow } = minute.complete.canary;
        if (!invocations) continue;
        if (errors !== null && errors !== undefined) llr[0] += logRatio(families[0], invocations, errors);
        const [le50, le99] = atOrBelow ?? [null, null];
        if (typeof le50 === 'number') llr[1] += logRatio(families[1], invocations, invocations - le50);
        if (typeof le99 === 'number') llr[2] += logRatio(families[2], invocations, invocations - le99);
      }
      if (llr.some((v) => v >= upper)) return 'rollback';
      if (t > stepStart && llr.every((v) => v <= lower)) {
        step = Math.min(step + 1, policy.steps.length - 1);
        stepStart = t;
      }
      return policy.steps[step] / 100;
    },
    oracleThresholds(sim),
  );
}
