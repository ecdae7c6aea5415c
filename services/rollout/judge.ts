/**
 * The canary judge: compares VariantB (canary) with VariantA (baseline) on the per-minute metrics
 * CloudWatch publishes and answers promote, rollback or wait.
 *
 * Pure and deterministic (no clock, no I/O), so the handler, the unit tests and the benchmark all
 * exercise the same decision. This module only decides; each evidence family has its own module under
 * `evidence/` with its statistics in its header: which minutes count (`periods.ts`), the 5xx error
 * rate (`errors.ts`), latency (`latency.ts`), prediction quality (`quality.ts`: accuracy on labelled
 * traffic and the predicted-class distribution).
 *
 * ## Rollback (anytime-valid, union of the families' tests, alpha split by ALPHA_SHARES)
 * A canary alarm in ALARM, or any family's rollback test reaching its share of alpha. Each test is an
 * e-process at its level (Ville's inequality), so P(ever rolling back a canary no worse) ≤ alpha.
 *
 * ## Promotion (intersection-union: every test at level alpha)
 * Promotion needs every family's promote test to reject its null; rejecting a union of nulls by
 * rejecting each at level alpha keeps P(promoting when any one holds) ≤ alpha, with no alpha split.
 * Every alarm must be OK, the step must have baked, and neither the errors nor the accuracy may lean
 * towards a regression (they hold the promotion; the rollback tests stay valid however long they
 * watch). Missing, invalid or too little data can only
 * ever lead to wait or, at the deadline, rollback.
 *
 * ## Low traffic
 * While the endpoint's requests a minute give the current step fewer than
 * `minCanaryRequestsPerMinute` canary requests, the judge moves on to the next step (never to 100 %)
 * instead of waiting hours for evidence: a 1 req/s endpoint is judged at the weight that sees requests,
 * with the absolute exposure a busier endpoint's first step has. Every test keeps pooling every minute.
 *
 * References: A. Wald, "Sequential tests of statistical hypotheses", Ann. Math. Stat. 16 (1945);
 * H. Robbins, "Statistical methods related to the law of the iterated logarithm", Ann. Math. Stat. 41
 * (1970); M. Lindon, C. Sanden, V. Shirikian, "Rapid regression detection in software deployments
 * through sequential testing", KDD 2022; S. Howard, A. Ramdas, J. McAuliffe, J. Sekhon, "Time-uniform,
 * nonparametric, nonasymptotic confidence sequences", Ann. Stat. 49 (2021); R. L. Berger,
 * "Multiparameter hypothesis testing and acceptance sampling", Technometrics 24 (1982) (intersection-
 * union tests); P. McCullagh, J. A. Nelder, "Generalized linear models" (1989), ch. 4.5 (dispersion);
 * R. Turner, A. Ly, P. Grünwald, "Generic E-variables for exact sequential k-sample tests that allow
 * for optional stopping" (2024).
 */
import {
  DEFAULT_MIN_CANARY_REQUESTS_PER_MINUTE,
  DEFAULT_PUBLICATION_LAG_MINUTES,
  nextStepWeight,
  type RolloutPolicy,
  type Verdict,
} from './policy';
import { round } from './stats';
import { judgeErrors, type ErrorTest, type VariantTotals } from './evidence/errors';
import { judgeQuality, type QualityConfig, type QualitySummary } from './evidence/quality';
import {
  judgeLatency,
  latencyThresholds,
  validReference,
  type LatencyReference,
  type PercentileTest,
} from './evidence/latency';
import {
  MINUTE_MS,
  newest,
  usablePeriods,
  type BaselineMinute,
  type NewestPeriod,
  type PeriodSource,
} from './evidence/periods';

export type {
  BaselineMinute,
  NewestPeriod,
  PeriodMetrics,
  UsedVariantMinute,
  VariantPeriodMetrics,
} from './evidence/periods';
export {
  canaryRateBound,
  errorRatioToRuleOut,
  promoteShares,
  RATE_BOUND_SHARES,
  RATIO_SHARES,
  type ErrorTest,
  type PromoteShares,
  type VariantTotals,
} from './evidence/errors';
export type { QualityConfig, QualitySummary } from './evidence/quality';
export {
  latencyRatioToRuleOut,
  latencyThresholds,
  type LatencyComparison,
  type LatencyReference,
  type LatencyThresholds,
  type PercentileTest,
} from './evidence/latency';

/** CloudWatch alarm states, plus MISSING for a configured alarm that DescribeAlarms did not return. */
export type AlarmStateValue = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA' | 'MISSING';

/** The state of one canary alarm when the evidence was gathered. */
export interface AlarmObservation {
  readonly name: string;
  readonly state: AlarmStateValue;
}

/** Everything the judge looks at. Times are epoch milliseconds. */
export interface Evidence extends PeriodSource {
  readonly alarms: readonly AlarmObservation[];
  /** Index into `policy.steps` of the weights currently in service. */
  readonly stepIndex: number;
  /** When the current step's weights were in service. */
  readonly stepStartedAt: number;
  /** Where the latency thresholds come from; without it no latency evidence exists (and nothing promotes). */
  readonly latencyReference?: LatencyReference | null;
  /**
   * The baseline's minutes of the hour before the rollout (Invocations and Invocation5XXErrors sums);
   * absent or empty without one. Data from before the candidate served anyone: its error rate chooses
   * how the error promote alpha is split (`promoteShares`), and its minutes anchor both variants'
   * dispersion estimates, without touching any test's validity.
   */
  readonly baselineHourBefore?: readonly BaselineMinute[] | null;
  /**
   * The classes of the periods' `predicted` counts. With it the judge also weighs prediction quality
   * (accuracy on labelled traffic, predicted-class distribution); without it that family is not judged.
   */
  readonly quality?: QualityConfig | null;
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
  /** Periods not used yet: younger than the publication lag, or with inconsistent sample counts. */
  readonly periodsIncomplete: number;
  readonly periodsWithCanaryTrafficThisStep: number;
  readonly baseline: VariantTotals;
  readonly canary: VariantTotals;
  readonly errorTest: ErrorTest;
  readonly latencyTest: {
    readonly p50: PercentileTest;
    readonly p99: PercentileTest;
  };
  /** Online accuracy and predicted-class distribution per variant; null when quality is not judged. */
  readonly quality: QualitySummary | null;
  /** log(1/level) each log-evidence above must reach to count. */
  readonly logThresholds: {
    readonly errorRollback: number;
    readonly p50Rollback: number;
    readonly p99Rollback: number;
    readonly errorPromote: number;
    readonly errorRatioPromote: number;
    readonly latencyPromote: number;
    /** The quality rollback tests' levels, as log(1/level) of each bound (null: quality not judged). */
    readonly accuracyRollback: number | null;
    readonly distributionRollback: number | null;
  };
  readonly bakePassed: boolean;
  readonly deadlinePassed: boolean;
}

/** The judge's answer: the verdict, a sentence for people, and the evidence behind it. */
export interface Judgement {
  readonly verdict: Verdict;
  readonly reason: string;
  readonly summary: EvidenceSummary;
  /** Newest complete period used; null when none was usable. */
  readonly newestPeriod: NewestPeriod | null;
}

/**
 * How the rollback alpha is split between the tests (Bonferroni). Errors get the most because a broken
 * model shows up in 5xx first and every minute of it costs users; the quality tests get a tenth each:
 * what they guard against is gross (a label bug, moved predictions) and shows within a few labelled
 * answers. The shares add up to one whether or not quality is judged. Promotion needs no split
 * (intersection-union), so every promote test runs at the full alpha.
 */
export const ALPHA_SHARES = Object.freeze({
  errorRollback: 0.4,
  p50Rollback: 0.2,
  p99Rollback: 0.2,
  accuracyRollback: 0.1,
  distributionRollback: 0.1,
});

/**
 * Decides one step of a rollout. Rolls back at once on a canary alarm or on significant evidence that
 * the canary is worse; promotes only when the evidence shows the canary within every margin, every
 * alarm is OK and the step has baked; rolls back when the deadline passes without that evidence;
 * otherwise waits.
 */
export function judge(evidence: Evidence, policy: RolloutPolicy, now: number): Judgement {
  const lag = policy.publicationLagMinutes ?? DEFAULT_PUBLICATION_LAG_MINUTES;
  const reference = validReference(evidence.latencyReference);
  const thresholds = reference ? latencyThresholds(policy, reference) : null;
  const { periods, discarded, incomplete } = usablePeriods(
    evidence,
    now,
    lag,
    thresholds?.values.length ?? 0,
  );
  const errors = judgeErrors(
    periods,
    evidence.baselineHourBefore,
    policy,
    evidence.stepIndex,
    ALPHA_SHARES.errorRollback * policy.alpha,
  );
  const latency = judgeLatency(periods, reference, thresholds, policy, evidence.stepIndex, {
    p50: ALPHA_SHARES.p50Rollback * policy.alpha,
    p99: ALPHA_SHARES.p99Rollback * policy.alpha,
  });
  const quality = evidence.quality
    ? judgeQuality(periods, evidence.quality, policy, evidence.stepIndex, {
        accuracy: ALPHA_SHARES.accuracyRollback * policy.alpha,
        distribution: ALPHA_SHARES.distributionRollback * policy.alpha,
      })
    : null;

  const lastPromotion = nextStepWeight(policy, evidence.stepIndex) >= 100;
  const alarmsInAlarm = evidence.alarms.filter((a) => a.state === 'ALARM').map((a) => a.name);
  const alarmsNotOk = evidence.alarms.filter((a) => a.state !== 'OK').map((a) => a.name);
  const periodsThisStep = periods.filter((p) => p.start >= evidence.stepStartedAt && p.nB > 0).length;
  // Every test pools all periods of the rollout, so an intermediate step may promote on evidence gathered
  // earlier once it has baked; the last promotion (to 100 %) also needs a complete period at this step.
  const bakePassed =
    now - evidence.stepStartedAt >= policy.minBakeMinutes * MINUTE_MS &&
    (periodsThisStep > 0 || !lastPromotion);
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
    periodsIncomplete: incomplete,
    periodsWithCanaryTrafficThisStep: periodsThisStep,
    baseline: errors.baseline,
    canary: errors.canary,
    errorTest: errors.test,
    latencyTest: { p50: latency.p50, p99: latency.p99 },
    quality: quality?.summary ?? null,
    logThresholds: {
      errorRollback: round(errors.logThresholds.rollback),
      p50Rollback: round(latency.logThresholds.p50Rollback),
      p99Rollback: round(latency.logThresholds.p99Rollback),
      errorPromote: round(errors.logThresholds.promote),
      errorRatioPromote: round(errors.logThresholds.ratioPromote),
      latencyPromote: round(latency.logThresholds.promote),
      accuracyRollback: quality ? round(quality.logThresholds.accuracyRollback) : null,
      distributionRollback: quality ? round(quality.logThresholds.distributionRollback) : null,
    },
    bakePassed,
    deadlinePassed,
  };
  const newestPeriod = newest(periods);
  const decide = (verdict: Verdict, reason: string): Judgement => ({
    verdict,
    reason,
    summary,
    newestPeriod,
  });

  if (alarmsInAlarm.length > 0) {
    return decide('rollback', `canary alarm in ALARM: ${alarmsInAlarm.join(', ')}`);
  }
  const rollback = errors.rollback ?? latency.rollback ?? quality?.rollback;
  if (rollback) return decide('rollback', rollback);
  // Low traffic: a step whose share of the endpoint's requests is too few to judge is passed on (never
  // the last promotion), so the evidence gathers at a weight that sees requests.
  const minCanary = policy.minCanaryRequestsPerMinute ?? DEFAULT_MIN_CANARY_REQUESTS_PER_MINUTE;
  const recent = periods.slice(-10);
  const requestsPerMinute =
    recent.length > 0 ? recent.reduce((sum, p) => sum + p.nA + p.nB, 0) / recent.length : null;
  if (
    !lastPromotion &&
    alarmsNotOk.length === 0 &&
    !errors.leans &&
    !quality?.leans &&
    requestsPerMinute !== null &&
    (requestsPerMinute * canaryWeight) / 100 < minCanary
  ) {
    return decide(
      'promote',
      `low traffic: ${round(requestsPerMinute, 1)} requests a minute give a ${canaryWeight}% canary fewer than ${minCanary} a minute, so the rollout moves on to ${summary.nextCanaryWeight}% canary to judge it`,
    );
  }
  const missing = [
    ...(alarmsNotOk.length > 0 ? [`alarms not OK: ${alarmsNotOk.join(', ')}`] : []),
    ...errors.missing,
    ...latency.missing,
    ...(quality?.missing ?? []),
    ...(bakePassed ? [] : ['minimum bake of this step not reached']),
  ];
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
