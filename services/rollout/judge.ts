/**
 * The canary judge: compares VariantB (canary) with VariantA (baseline) on the metrics CloudWatch
 * reports per minute and answers promote, rollback or wait.
 *
 * Pure and deterministic (no clock, no I/O), so the handler, the unit tests and the benchmark all
 * exercise the same decision.
 *
 * ## Statistics
 *
 * ### Error rate: conditional-binomial mixture SPRT on the rate ratio θ = λ_B / λ_A
 * In period t the variants serve n_A,t and n_B,t requests with e_A,t and e_B,t 5xx errors. Treating
 * errors as Poisson (rates ≪ 1), conditioning on the period's total E_t = e_A,t + e_B,t removes the
 * unknown baseline rate: e_B,t | E_t ~ Binomial(E_t, π_t(θ)) with π_t(θ) = n_B,t·θ / (n_A,t + n_B,t·θ).
 * Weights may change between periods; π_t absorbs that. For a null θ₀ and alternatives θ_k with
 * prior weights w_k, M_T = Σ_k w_k Π_t L_t(θ_k)/L_t(θ₀) is a non-negative (super)martingale under
 * H₀, because every factor has conditional mean ≤ 1 when θ is on the null side of θ₀ (the binomial
 * likelihood ratio is monotone in π and π_t is monotone in θ). Ville's inequality gives
 * P(sup_T M_T ≥ 1/a) ≤ a: the test stays valid however often the judge looks and however it stops.
 *   - rollback test, H₀: θ ≤ 1.1 (canary no worse, within a 10 % tolerance), alternatives
 *     θ ∈ {1.5, 3, 10} with weights {0.2, 0.3, 0.5} (large regressions are caught fastest).
 *   - promote test, H₀: θ ≥ θ_m (a meaningful regression), alternatives θ ∈ {0.5, 1, √θ_m} with
 *     weights {0.1, 0.8, 0.1} (most candidates are as good as the baseline).
 * θ_m comes from the policy: a regression is meaningful when it exceeds ratio AND increase, i.e.
 * θ_final = max(ratio, 1 + increase / p̂_A), with the plug-in p̂_A = (e_A + 1)/n_A (slightly high, which
 * only makes θ_final smaller, i.e. stricter; the plug-in itself is outside the anytime guarantee).
 * A step exposes only w_next of the traffic, so before moving
 * to weight w_next the judge rules out the regression whose endpoint-wide cost equals the final one:
 * θ_m = 1 + (θ_final − 1)·100 / w_next. The last promotion (to 100 %) rules out θ_final itself.
 *
 * ### Latency: sequential sign test on per-block ratios of average ModelLatency
 * Consecutive periods are pooled into blocks of at least LATENCY_BLOCK_REQUESTS requests per variant
 * (block boundaries depend on counts only), and each block's ratio r = canary avg ÷ baseline avg is
 * compared with ρ = latencyRegressionRatio. If the canary is no slower than ρ×baseline, P(r > ρ) ≤ ½ in
 * every block; the Bernoulli mixture SPRT of "slower" indicators against p = ½ (alternatives
 * {0.7, 0.85, 0.95}) is again a test supermartingale. The promote test is its mirror image on
 * "faster than ρ" indicators. Averages, not p99: CloudWatch percentiles of a few dozen requests per
 * minute are unstable, averages pool exactly.
 *
 * ### Error budget
 * The two rollback tests split alpha (¾ errors, ¼ latency) and so do the two promote tests (½, ½), so
 * P(statistical rollback of a canary within the tolerance) ≤ alpha and P(promoting a meaningful
 * regression) ≤ alpha (Bonferroni). Deadline rollbacks come on top: they are the price of low traffic.
 *
 * References: A. Wald, "Sequential tests of statistical hypotheses", Ann. Math. Stat. 16 (1945);
 * H. Robbins, "Statistical methods related to the law of the iterated logarithm", Ann. Math. Stat. 41
 * (1970) (mixture SPRT); M. Lindon, C. Sanden, V. Shirikian, "Rapid regression detection in software
 * deployments through sequential testing", KDD 2022 (Netflix canaries, Poisson rate ratios);
 * M. Lindon, A. Malek, "Anytime-valid inference for multinomial count data", NeurIPS 2022;
 * S. Howard, A. Ramdas, J. McAuliffe, J. Sekhon, "Time-uniform, nonparametric, nonasymptotic confidence
 * sequences", Ann. Stat. 49 (2021).
 */
import { nextStepWeight, type RolloutPolicy, type Verdict } from './policy';

/** One variant's CloudWatch figures for one period; `null`/absent means CloudWatch had no datapoint. */
export interface VariantPeriodMetrics {
  /** Sum of `Invocations`. */
  readonly invocations?: number | null;
  /** Sum of `Invocation5XXErrors`. */
  readonly errors?: number | null;
  /** Average of `ModelLatency` (any unit, the same for both variants). */
  readonly latencyAvg?: number | null;
}

/** Both variants' figures for one CloudWatch period. */
export interface PeriodMetrics {
  /** Period start, epoch milliseconds. */
  readonly start: number;
  readonly baseline: VariantPeriodMetrics;
  readonly canary: VariantPeriodMetrics;
}

/** CloudWatch alarm states, plus MISSING for a configured alarm that DescribeAlarms did not return. */
export type AlarmStateValue = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA' | 'MISSING';

/** The state of one canary alarm when the evidence was gathered. */
export interface AlarmObservation {
  readonly name: string;
  readonly state: AlarmStateValue;
}

/** Everything the judge looks at. Times are epoch milliseconds. */
export interface Evidence {
  readonly alarms: readonly AlarmObservation[];
  readonly periods: readonly PeriodMetrics[];
  readonly periodSeconds: number;
  /** Index into `policy.steps` of the weights currently in service. */
  readonly stepIndex: number;
  /** When the current step's weights were in service. */
  readonly stepStartedAt: number;
  /** When the first canary weight was applied; earlier periods belong to another rollout. */
  readonly rolloutStartedAt: number;
}

/** Request and error totals of one variant over the periods used. */
export interface VariantTotals {
  readonly invocations: number;
  readonly errors: number;
  readonly errorRate: number | null;
}

/** What the judge saw and computed: logged with every decision and returned to the state machine. */
export interface EvidenceSummary {
  readonly stepIndex: number;
  readonly canaryWeight: number;
  readonly nextCanaryWeight: number;
  readonly minutesSinceStepStart: number;
  readonly minutesSinceRolloutStart: number;
  readonly alarmsInAlarm: readonly string[];
  readonly alarmsNotOk: readonly string[];
  readonly periodsUsed: number;
  readonly periodsDiscarded: number;
  readonly periodsWithCanaryTrafficThisStep: number;
  readonly baseline: VariantTotals;
  readonly canary: VariantTotals;
  readonly errorTest: {
    /** Pooled canary ÷ baseline error rate (null without errors on both sides to compare). */
    readonly estimatedRatio: number | null;
    /** θ_m: the error-rate ratio this step must rule out before promotion. */
    readonly ratioToRuleOut: number;
    /** log of the rollback test's e-value (evidence the canary is worse). */
    readonly rollbackLogEvidence: number;
    /** log of the promote test's e-value (evidence the canary is not meaningfully worse). */
    readonly promoteLogEvidence: number;
  };
  readonly latencyTest: {
    readonly blocks: number;
    readonly slowerBlocks: number;
    readonly fasterBlocks: number;
    /** Canary ÷ baseline average latency over all blocks (null without blocks). */
    readonly ratio: number | null;
    readonly rollbackLogEvidence: number;
    readonly promoteLogEvidence: number;
  };
  /** log(1/(share·alpha)) each log-evidence above must reach to count (shares in ALPHA_SHARES). */
  readonly logThresholds: Readonly<Record<keyof typeof ALPHA_SHARES, number>>;
  readonly bakePassed: boolean;
  readonly deadlinePassed: boolean;
}

/** The judge's answer: the verdict, a sentence for people, and the evidence behind it. */
export interface Judgement {
  readonly verdict: Verdict;
  readonly reason: string;
  readonly summary: EvidenceSummary;
}

/**
 * How alpha is split between the tests (Bonferroni). Rollbacks favour the error test because a broken
 * model shows up in 5xx first and every minute of it costs users; the latency test is slower anyway.
 */
export const ALPHA_SHARES = Object.freeze({
  errorRollback: 0.75,
  latencyRollback: 0.25,
  errorPromote: 0.5,
  latencyPromote: 0.5,
});

/** Minimum requests per variant in one latency block: fewer makes a block's average too noisy. */
export const LATENCY_BLOCK_REQUESTS = 10;

/**
 * The rollback test's null is θ ≤ 1.1: a canary within 10 % of the baseline is not rolled back, so
 * busy endpoints do not flap on noise-level differences.
 */
const ROLLBACK_TOLERANCE = 1.1;
const ROLLBACK_RATIOS: readonly number[] = [1.5, 3, 10];
const ROLLBACK_WEIGHTS: readonly number[] = [0.2, 0.3, 0.5];
const SIGN_TEST_ALTERNATIVES: readonly number[] = [0.7, 0.85, 0.95];
const MINUTE_MS = 60_000;

interface UsablePeriod {
  readonly start: number;
  readonly nA: number;
  readonly eA: number;
  readonly nB: number;
  readonly eB: number;
  readonly latA: number | null;
  readonly latB: number | null;
}

interface CleanVariant {
  readonly n: number;
  readonly e: number;
  readonly lat: number | null;
}

function isCount(value: number | null | undefined): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

/**
 * Missing invocations read as no traffic (CloudWatch omits datapoints of idle variants). Anything that
 * cannot be a per-period count (negative, NaN, errors above requests, errors missing while requests
 * were served) is what a counter reset or a partial datapoint looks like: the period is dropped rather
 * than read as error-free.
 */
function cleanVariant(metrics: VariantPeriodMetrics): CleanVariant | undefined {
  const { invocations, errors, latencyAvg } = metrics;
  if (invocations !== undefined && invocations !== null && !isCount(invocations)) return undefined;
  const n = invocations ?? 0;
  if (errors === undefined || errors === null) {
    if (n > 0) return undefined;
    return { n: 0, e: 0, lat: null };
  }
  if (!isCount(errors) || errors > n) return undefined;
  const lat =
    typeof latencyAvg === 'number' && Number.isFinite(latencyAvg) && latencyAvg > 0 ? latencyAvg : null;
  return { n, e: errors, lat: n > 0 ? lat : null };
}

function usablePeriods(evidence: Evidence, now: number): { periods: UsablePeriod[]; discarded: number } {
  const periodMs = evidence.periodSeconds * 1000;
  const byStart = new Map<number, PeriodMetrics[]>();
  for (const period of evidence.periods) {
    const list = byStart.get(period.start) ?? [];
    list.push(period);
    byStart.set(period.start, list);
  }
  const periods: UsablePeriod[] = [];
  let discarded = 0;
  for (const [start, list] of [...byStart.entries()].sort((a, b) => a[0] - b[0])) {
    if (!Number.isFinite(start) || start < evidence.rolloutStartedAt || start + periodMs > now) {
      discarded += list.length;
      continue;
    }
    const only = list.length === 1 ? list[0] : undefined;
    const a = only && cleanVariant(only.baseline);
    const b = only && cleanVariant(only.canary);
    if (!a || !b) {
      discarded += list.length;
      continue;
    }
    periods.push({ start, nA: a.n, eA: a.e, nB: b.n, eB: b.e, latA: a.lat, latB: b.lat });
  }
  return { periods, discarded };
}

function logSumExp(terms: readonly number[]): number {
  const max = Math.max(...terms);
  if (max === -Infinity) return -Infinity;
  return max + Math.log(terms.reduce((sum, term) => sum + Math.exp(term - max), 0));
}

/** log of Σ_k w_k Π_t L_t(θ_k)/L_t(θ₀) for the conditional binomial model (equal weights unless given). */
function logMixtureRatioEvidence(
  periods: readonly UsablePeriod[],
  nullRatio: number,
  alternatives: readonly number[],
  weights: readonly number[],
): number {
  const sums = alternatives.map(() => 0);
  for (const p of periods) {
    if (p.nA <= 0 || p.nB <= 0 || p.eA + p.eB <= 0) continue;
    const pi0 = (p.nB * nullRatio) / (p.nA + p.nB * nullRatio);
    alternatives.forEach((theta, k) => {
      const pi = (p.nB * theta) / (p.nA + p.nB * theta);
      sums[k] += p.eB * Math.log(pi / pi0) + p.eA * Math.log((1 - pi) / (1 - pi0));
    });
  }
  return logSumExp(sums.map((sum, k) => Math.log(weights[k]) + sum));
}

/** log of the Bernoulli mixture SPRT e-value for k successes in m trials against p = ½. */
function logSignTestEvidence(successes: number, trials: number): number {
  const terms = SIGN_TEST_ALTERNATIVES.map(
    (p) =>
      Math.log(1 / SIGN_TEST_ALTERNATIVES.length) +
      successes * Math.log(2 * p) +
      (trials - successes) * Math.log(2 * (1 - p)),
  );
  return logSumExp(terms);
}

interface LatencyBlocks {
  readonly blocks: number;
  readonly slower: number;
  readonly faster: number;
  readonly ratio: number | null;
}

function latencyBlocks(periods: readonly UsablePeriod[], threshold: number): LatencyBlocks {
  let blocks = 0;
  let slower = 0;
  let faster = 0;
  let block = { nA: 0, sA: 0, nB: 0, sB: 0 };
  const total = { nA: 0, sA: 0, nB: 0, sB: 0 };
  for (const p of periods) {
    if (p.latA === null || p.latB === null) continue;
    block = {
      nA: block.nA + p.nA,
      sA: block.sA + p.nA * p.latA,
      nB: block.nB + p.nB,
      sB: block.sB + p.nB * p.latB,
    };
    if (block.nA < LATENCY_BLOCK_REQUESTS || block.nB < LATENCY_BLOCK_REQUESTS) continue;
    const ratio = block.sB / block.nB / (block.sA / block.nA);
    blocks += 1;
    if (ratio > threshold) slower += 1;
    else if (ratio < threshold) faster += 1;
    total.nA += block.nA;
    total.sA += block.sA;
    total.nB += block.nB;
    total.sB += block.sB;
    block = { nA: 0, sA: 0, nB: 0, sB: 0 };
  }
  const ratio = total.nB > 0 && total.sA > 0 ? total.sB / total.nB / (total.sA / total.nA) : null;
  return { blocks, slower, faster, ratio };
}

function totals(n: number, e: number): VariantTotals {
  return { invocations: n, errors: e, errorRate: n > 0 ? e / n : null };
}

function round(value: number, digits = 3): number {
  if (!Number.isFinite(value)) return value;
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/**
 * The error-rate ratio a promotion from `stepIndex` must rule out (θ_m in the header).
 * Exported so the benchmark and the docs can show what each step demands.
 */
export function ratioToRuleOut(
  policy: RolloutPolicy,
  stepIndex: number,
  baselineInvocations: number,
  baselineErrors: number,
): number {
  const upperBaselineRate =
    baselineInvocations > 0 ? Math.min(1, (baselineErrors + 1) / baselineInvocations) : 1;
  const finalRatio = Math.max(
    policy.errorRegression.ratio,
    1 + policy.errorRegression.increase / upperBaselineRate,
  );
  return 1 + ((finalRatio - 1) * 100) / nextStepWeight(policy, stepIndex);
}

/**
 * Decides one step of a rollout. Rolls back at once on a canary alarm or on significant evidence that
 * the canary is worse; promotes only when the evidence rules out a meaningful regression, every alarm
 * is OK and the step has baked; rolls back when the deadline passes without that evidence; otherwise
 * waits. Missing, invalid or too little data can only ever lead to wait or, at the deadline, rollback.
 */
export function judge(evidence: Evidence, policy: RolloutPolicy, now: number): Judgement {
  const { periods, discarded } = usablePeriods(evidence, now);
  let nA = 0;
  let eA = 0;
  let nB = 0;
  let eB = 0;
  for (const p of periods) {
    nA += p.nA;
    eA += p.eA;
    nB += p.nB;
    eB += p.eB;
  }
  const logThresholds = {
    errorRollback: Math.log(1 / (ALPHA_SHARES.errorRollback * policy.alpha)),
    latencyRollback: Math.log(1 / (ALPHA_SHARES.latencyRollback * policy.alpha)),
    errorPromote: Math.log(1 / (ALPHA_SHARES.errorPromote * policy.alpha)),
    latencyPromote: Math.log(1 / (ALPHA_SHARES.latencyPromote * policy.alpha)),
  };
  const theta = ratioToRuleOut(policy, evidence.stepIndex, nA, eA);
  const rollbackErrors = logMixtureRatioEvidence(
    periods,
    ROLLBACK_TOLERANCE,
    ROLLBACK_RATIOS,
    ROLLBACK_WEIGHTS,
  );
  const promoteErrors = logMixtureRatioEvidence(periods, theta, [0.5, 1, Math.sqrt(theta)], [0.1, 0.8, 0.1]);
  const latency = latencyBlocks(periods, policy.latencyRegressionRatio);
  const rollbackLatency = logSignTestEvidence(latency.slower, latency.slower + latency.faster);
  const promoteLatency = logSignTestEvidence(latency.faster, latency.slower + latency.faster);

  const alarmsInAlarm = evidence.alarms.filter((a) => a.state === 'ALARM').map((a) => a.name);
  const alarmsNotOk = evidence.alarms.filter((a) => a.state !== 'OK').map((a) => a.name);
  const periodsThisStep = periods.filter((p) => p.start >= evidence.stepStartedAt && p.nB > 0).length;
  const bakePassed = now - evidence.stepStartedAt >= policy.minBakeMinutes * MINUTE_MS && periodsThisStep > 0;
  const deadlinePassed = now - evidence.rolloutStartedAt >= policy.deadlineMinutes * MINUTE_MS;
  const canaryWeight = policy.steps[evidence.stepIndex] ?? 0;

  const summary: EvidenceSummary = {
    stepIndex: evidence.stepIndex,
    canaryWeight,
    nextCanaryWeight: nextStepWeight(policy, evidence.stepIndex),
    minutesSinceStepStart: round((now - evidence.stepStartedAt) / MINUTE_MS, 2),
    minutesSinceRolloutStart: round((now - evidence.rolloutStartedAt) / MINUTE_MS, 2),
    alarmsInAlarm,
    alarmsNotOk,
    periodsUsed: periods.length,
    periodsDiscarded: discarded,
    periodsWithCanaryTrafficThisStep: periodsThisStep,
    baseline: totals(nA, eA),
    canary: totals(nB, eB),
    errorTest: {
      estimatedRatio: eA > 0 && nB > 0 ? round(eB / nB / (eA / nA), 4) : null,
      ratioToRuleOut: round(theta, 4),
      rollbackLogEvidence: round(rollbackErrors),
      promoteLogEvidence: round(promoteErrors),
    },
    latencyTest: {
      blocks: latency.blocks,
      slowerBlocks: latency.slower,
      fasterBlocks: latency.faster,
      ratio: latency.ratio === null ? null : round(latency.ratio, 4),
      rollbackLogEvidence: round(rollbackLatency),
      promoteLogEvidence: round(promoteLatency),
    },
    logThresholds: {
      errorRollback: round(logThresholds.errorRollback),
      latencyRollback: round(logThresholds.latencyRollback),
      errorPromote: round(logThresholds.errorPromote),
      latencyPromote: round(logThresholds.latencyPromote),
    },
    bakePassed,
    deadlinePassed,
  };
  const decide = (verdict: Verdict, reason: string): Judgement => ({ verdict, reason, summary });

  if (alarmsInAlarm.length > 0) {
    return decide('rollback', `canary alarm in ALARM: ${alarmsInAlarm.join(', ')}`);
  }
  if (rollbackErrors >= logThresholds.errorRollback) {
    return decide(
      'rollback',
      `canary 5xx rate is significantly higher than baseline (ratio ≈ ${summary.errorTest.estimatedRatio ?? '∞'})`,
    );
  }
  if (rollbackLatency >= logThresholds.latencyRollback) {
    return decide(
      'rollback',
      `canary latency is significantly above ${policy.latencyRegressionRatio}× baseline (${latency.slower}/${latency.blocks} blocks slower)`,
    );
  }
  const missing: string[] = [];
  if (alarmsNotOk.length > 0) missing.push(`alarms not OK: ${alarmsNotOk.join(', ')}`);
  if (promoteErrors < logThresholds.errorPromote)
    missing.push(`error-rate ratio ≥ ${round(theta, 2)} not yet ruled out`);
  if (promoteLatency < logThresholds.latencyPromote) {
    missing.push(`latency ratio ≥ ${policy.latencyRegressionRatio} not yet ruled out`);
  }
  if (!bakePassed) missing.push('minimum bake of this step not reached');
  if (missing.length === 0) {
    return decide('promote', `no meaningful regression: promote to ${summary.nextCanaryWeight}% canary`);
  }
  if (deadlinePassed) {
    return decide(
      'rollback',
      `deadline of ${policy.deadlineMinutes} min passed without evidence: ${missing.join('; ')}`,
    );
  }
  return decide('wait', missing.join('; '));
}
