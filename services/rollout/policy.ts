/**
 * Rollout policy: which canary weights to walk through, how long each step must bake, how long the
 * whole rollout may take, and what size of regression the judge must rule out before promoting.
 *
 * Pure domain code: no AWS imports, so stage config, the judge, the handler and the benchmark share it.
 */

/** The three answers a judge can give; the state machine branches on them. */
export type Verdict = 'promote' | 'rollback' | 'wait';

/**
 * The non-inferiority margin of the canary's error rate: the canary is acceptable while its rate stays
 * below max(ratio × baseline rate, baseline rate + increase). A regression must exceed BOTH bounds, so
 * a zero or tiny baseline rate (0.01 %) does not demand impossible evidence to rule out a "doubling"
 * (the absolute margin applies), and a high baseline rate does not make +0.5 points look harmless.
 */
export interface ErrorRegression {
  /** Canary rate ÷ baseline rate that counts as a regression, e.g. 2. Must be > 1. */
  readonly ratio: number;
  /**
   * Canary rate − baseline rate (a fraction, 0.01 = one percentage point) that counts as a regression:
   * the absolute margin. Must be > 0 so that a zero-error baseline can be matched by a zero-error canary.
   */
  readonly increase: number;
}

/** Minutes CloudWatch needs to publish a period completely, unless the policy says otherwise. */
export const DEFAULT_PUBLICATION_LAG_MINUTES = 3;

/** Canary ÷ baseline p99 latency the tail rollback test guards, unless the policy says otherwise. */
export const DEFAULT_TAIL_LATENCY_REGRESSION_RATIO = 1.5;

/** Canary ÷ baseline p99 latency the last promotion must rule out, unless the policy says otherwise. */
export const DEFAULT_TAIL_LATENCY_MARGIN_RATIO = 2;

/** The policy one stage uses for every rollout. Plain JSON, so it travels in Step Functions input. */
export interface RolloutPolicy {
  /** Canary weight (percent) of each step, strictly increasing, ending at 100, e.g. [5, 25, 50, 100]. */
  readonly steps: readonly number[];
  /** Minimum minutes a step must run (after its weights are in service) before it may be promoted. */
  readonly minBakeMinutes: number;
  /** Minutes after the rollout started by which it must have promoted; afterwards "wait" turns into rollback. */
  readonly deadlineMinutes: number;
  /**
   * Significance level. The chance that a canary that is no worse than the baseline is rolled back by the
   * statistical tests is at most `alpha`, and so is the chance of promoting a meaningful regression;
   * both hold however often the judge looks.
   */
  readonly alpha: number;
  /** Error-rate regression that must be ruled out before the canary reaches 100 %. */
  readonly errorRegression: ErrorRegression;
  /**
   * Canary ÷ baseline model latency that counts as a latency regression, e.g. 1.2, judged on the
   * per-minute p50 and p99 of `ModelLatency` (a regression of either percentile counts).
   */
  readonly latencyRegressionRatio: number;
  /**
   * Canary ÷ baseline p99 `ModelLatency` above which the tail rollback test rolls back, e.g. 1.5. The
   * p99 of one minute is far noisier than its median, so the tail has its own, wider margins.
   * @default DEFAULT_TAIL_LATENCY_REGRESSION_RATIO (1.5)
   */
  readonly tailLatencyRegressionRatio?: number;
  /**
   * Canary ÷ baseline p99 `ModelLatency` the last promotion must rule out, at least
   * tailLatencyRegressionRatio. Between the two neither test is sure to decide: only ~1 % of requests
   * tell about the p99, so a margin equal to the rollback ratio would keep a healthy canary of a
   * 1 req/s endpoint for hours. @default DEFAULT_TAIL_LATENCY_MARGIN_RATIO (2)
   */
  readonly tailLatencyMarginRatio?: number;
  /**
   * Minutes after a one-minute period closes before the judge reads it. CloudWatch publishes
   * SageMaker's per-minute metrics 1–3 minutes late and shows a partly aggregated datapoint meanwhile;
   * a period younger than this never counts. @default DEFAULT_PUBLICATION_LAG_MINUTES (3)
   */
  readonly publicationLagMinutes?: number;
  /**
   * Canary requests a minute below which a step cannot gather evidence in reasonable time: while the
   * endpoint's traffic puts the canary's current step below it, the judge moves on to the next step
   * (never to 100 %) without waiting for that step's evidence, so a 1 req/s endpoint is judged at a
   * weight that sees requests, with the same absolute exposure a busier endpoint's first step has. 0
   * walks every step whatever the traffic. @default DEFAULT_MIN_CANARY_REQUESTS_PER_MINUTE (20)
   */
  readonly minCanaryRequestsPerMinute?: number;
  /**
   * Accuracy (a fraction: 0.01 = one point) the canary may be below the baseline on labelled traffic
   * before the rollback test rolls it back. @default DEFAULT_ACCURACY_MARGIN (0.01)
   */
  readonly accuracyMargin?: number;
  /**
   * Total variation between the variants' predicted-class distributions the last promotion must rule
   * out (the rollback test guards half of it). @default DEFAULT_DISTRIBUTION_MARGIN (0.1)
   */
  readonly distributionMargin?: number;
  /**
   * CV² of per-minute error bursts the canary's dispersion estimate starts from when the hour before
   * the rollout has too few requests to show the baseline's (fewer than 100: dev, where only the smoke
   * test ran). Its own minutes take over as they come (four minutes' worth of prior). 1, a CV-1 world,
   * is the cautious guess for unknown traffic; a stage whose rollout traffic is the traffic source's
   * steady replay can start lower and roll a gross regression back minutes sooner.
   * @default DEFAULT_ERROR_DISPERSION_PRIOR_CV2 (1)
   */
  readonly errorDispersionPriorCv2?: number;
}

/** The canary's error dispersion prior (CV²) without an hour before the rollout, unless the policy says otherwise. */
export const DEFAULT_ERROR_DISPERSION_PRIOR_CV2 = 1;

/** Accuracy points (as a fraction) a canary may lose on labelled traffic, unless the policy says otherwise. */
export const DEFAULT_ACCURACY_MARGIN = 0.01;
/** Total-variation margin of the predicted-class distribution, unless the policy says otherwise. */
export const DEFAULT_DISTRIBUTION_MARGIN = 0.1;

/** Canary requests a minute a step needs to be judged at, unless the policy says otherwise. */
export const DEFAULT_MIN_CANARY_REQUESTS_PER_MINUTE = 20;

/** Variant weights in percent; they always sum to 100. */
export interface VariantWeights {
  readonly baseline: number;
  readonly canary: number;
}

/** Thrown for a policy that cannot be used; the message lists every problem and what to change. */
export class RolloutPolicyError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid rollout policy: ${problems.join('; ')}`);
    this.name = 'RolloutPolicyError';
  }
}

/**
 * Fast rollout for dev, where nobody but the traffic source calls: half the traffic to the candidate at
 * once (the two variants then tell the most about each other), then everything. Alpha 1 % keeps a
 * good candidate's false rollback (a push that must be repeated for nothing) at most 1 in 100; with
 * no hour of traffic before the rollout, the canary's error dispersion starts from the steady CV² 0.25
 * its synthetic traffic warrants instead of a CV-1 world, which rolls a 10× candidate back ~3 min sooner.
 */
export const DEV_ROLLOUT_POLICY: RolloutPolicy = Object.freeze({
  steps: Object.freeze([50, 100]),
  minBakeMinutes: 2,
  deadlineMinutes: 120,
  alpha: 0.01,
  errorRegression: Object.freeze({ ratio: 2, increase: 0.01 }),
  latencyRegressionRatio: 1.2,
  tailLatencyRegressionRatio: DEFAULT_TAIL_LATENCY_REGRESSION_RATIO,
  tailLatencyMarginRatio: DEFAULT_TAIL_LATENCY_MARGIN_RATIO,
  publicationLagMinutes: DEFAULT_PUBLICATION_LAG_MINUTES,
  minCanaryRequestsPerMinute: DEFAULT_MIN_CANARY_REQUESTS_PER_MINUTE,
  accuracyMargin: DEFAULT_ACCURACY_MARGIN,
  distributionMargin: DEFAULT_DISTRIBUTION_MARGIN,
  errorDispersionPriorCv2: 0.25,
});

/** Gradual rollout for prod; the defaults the benchmark measures. */
export const PROD_ROLLOUT_POLICY: RolloutPolicy = Object.freeze({
  steps: Object.freeze([5, 25, 50, 100]),
  minBakeMinutes: 2,
  // Seven hours: a 1 req/s endpoint with a 2 % baseline error rate needs ~3 h to show a healthy
  // canary within the margin; the pipeline step's CodeBuild timeout (deadline + 60 min) stays at 480.
  deadlineMinutes: 420,
  alpha: 0.02,
  errorRegression: Object.freeze({ ratio: 2, increase: 0.01 }),
  latencyRegressionRatio: 1.2,
  tailLatencyRegressionRatio: DEFAULT_TAIL_LATENCY_REGRESSION_RATIO,
  tailLatencyMarginRatio: DEFAULT_TAIL_LATENCY_MARGIN_RATIO,
  publicationLagMinutes: DEFAULT_PUBLICATION_LAG_MINUTES,
  minCanaryRequestsPerMinute: DEFAULT_MIN_CANARY_REQUESTS_PER_MINUTE,
  accuracyMargin: DEFAULT_ACCURACY_MARGIN,
  distributionMargin: DEFAULT_DISTRIBUTION_MARGIN,
  errorDispersionPriorCv2: DEFAULT_ERROR_DISPERSION_PRIOR_CV2,
});

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates untrusted input (stage config, Step Functions input) into a frozen policy.
 * Collects every problem so one synth or one failed execution shows all of them.
 */
export function createRolloutPolicy(input: unknown): RolloutPolicy {
  if (!isRecord(input)) {
    throw new RolloutPolicyError(['policy must be an object']);
  }
  const problems: string[] = [];
  const { steps, minBakeMinutes, deadlineMinutes, alpha, errorRegression, latencyRegressionRatio } = input;
  const publicationLagMinutes = input.publicationLagMinutes ?? DEFAULT_PUBLICATION_LAG_MINUTES;
  const tailLatencyRegressionRatio =
    input.tailLatencyRegressionRatio ?? DEFAULT_TAIL_LATENCY_REGRESSION_RATIO;
  const tailLatencyMarginRatio = input.tailLatencyMarginRatio ?? DEFAULT_TAIL_LATENCY_MARGIN_RATIO;
  const minCanaryRequestsPerMinute =
    input.minCanaryRequestsPerMinute ?? DEFAULT_MIN_CANARY_REQUESTS_PER_MINUTE;
  const errorDispersionPriorCv2 = input.errorDispersionPriorCv2 ?? DEFAULT_ERROR_DISPERSION_PRIOR_CV2;
  const accuracyMargin = input.accuracyMargin ?? DEFAULT_ACCURACY_MARGIN;
  const distributionMargin = input.distributionMargin ?? DEFAULT_DISTRIBUTION_MARGIN;

  if (!Array.isArray(steps) || steps.length === 0) {
    problems.push(
      'steps must be a non-empty array of canary percentages ending at 100, e.g. [5, 25, 50, 100]',
    );
  } else {
    steps.forEach((step: unknown, i) => {
      if (!isFiniteNumber(step) || step <= 0 || step > 100) {
        problems.push(`steps[${i}] must be a percentage in (0, 100], got ${JSON.stringify(step)}`);
      } else if (i > 0 && isFiniteNumber(steps[i - 1]) && step <= (steps[i - 1] as number)) {
        problems.push(`steps must increase strictly: steps[${i}]=${step} is not above steps[${i - 1}]`);
      }
    });
    if (steps[steps.length - 1] !== 100) {
      problems.push('the last step must be 100 so a promotion ends with the canary serving all traffic');
    }
  }
  if (!isFiniteNumber(minBakeMinutes) || minBakeMinutes < 0) {
    problems.push(`minBakeMinutes must be a number >= 0, got ${JSON.stringify(minBakeMinutes)}`);
  }
  if (!isFiniteNumber(deadlineMinutes) || deadlineMinutes <= 0) {
    problems.push(`deadlineMinutes must be a number > 0, got ${JSON.stringify(deadlineMinutes)}`);
  } else if (isFiniteNumber(minBakeMinutes) && Array.isArray(steps)) {
    const minimum = minBakeMinutes * Math.max(steps.length - 1, 0);
    if (deadlineMinutes < minimum) {
      problems.push(
        `deadlineMinutes (${deadlineMinutes}) is shorter than the bakes alone (${minimum}): raise it or shorten minBakeMinutes`,
      );
    }
  }
  if (!isFiniteNumber(alpha) || alpha <= 0 || alpha >= 0.5) {
    problems.push(`alpha must be a significance level in (0, 0.5), e.g. 0.05, got ${JSON.stringify(alpha)}`);
  }
  if (!isRecord(errorRegression)) {
    problems.push(
      'errorRegression must be an object { ratio, increase }, e.g. { "ratio": 2, "increase": 0.01 }',
    );
  } else {
    if (!isFiniteNumber(errorRegression.ratio) || errorRegression.ratio <= 1) {
      problems.push(
        `errorRegression.ratio must be > 1 (canary rate ÷ baseline rate), got ${JSON.stringify(errorRegression.ratio)}`,
      );
    }
    if (
      !isFiniteNumber(errorRegression.increase) ||
      errorRegression.increase <= 0 ||
      errorRegression.increase >= 1
    ) {
      problems.push(
        `errorRegression.increase must be a fraction in (0, 1) (0.01 = one percentage point; 0 would make a zero-error baseline impossible to match), got ${JSON.stringify(errorRegression.increase)}`,
      );
    }
  }
  if (!isFiniteNumber(latencyRegressionRatio) || latencyRegressionRatio <= 1) {
    problems.push(
      `latencyRegressionRatio must be > 1 (canary ÷ baseline latency), got ${JSON.stringify(latencyRegressionRatio)}`,
    );
  }
  if (!isFiniteNumber(tailLatencyRegressionRatio) || tailLatencyRegressionRatio <= 1) {
    problems.push(
      `tailLatencyRegressionRatio must be > 1 (canary ÷ baseline p99 latency), got ${JSON.stringify(tailLatencyRegressionRatio)}`,
    );
  }
  if (
    !isFiniteNumber(tailLatencyMarginRatio) ||
    (isFiniteNumber(tailLatencyRegressionRatio) && tailLatencyMarginRatio < tailLatencyRegressionRatio)
  ) {
    problems.push(
      `tailLatencyMarginRatio must be a number >= tailLatencyRegressionRatio (${JSON.stringify(tailLatencyRegressionRatio)}), got ${JSON.stringify(tailLatencyMarginRatio)}`,
    );
  }
  if (
    !isFiniteNumber(publicationLagMinutes) ||
    !Number.isInteger(publicationLagMinutes) ||
    publicationLagMinutes < 1 ||
    publicationLagMinutes > 15
  ) {
    problems.push(
      `publicationLagMinutes must be a whole number of minutes in [1, 15] (CloudWatch publishes 1–3 min late), got ${JSON.stringify(publicationLagMinutes)}`,
    );
  } else if (isFiniteNumber(deadlineMinutes) && publicationLagMinutes >= deadlineMinutes) {
    problems.push(
      `publicationLagMinutes (${publicationLagMinutes}) must be shorter than deadlineMinutes (${deadlineMinutes})`,
    );
  }
  if (!isFiniteNumber(minCanaryRequestsPerMinute) || minCanaryRequestsPerMinute < 0) {
    problems.push(
      `minCanaryRequestsPerMinute must be a number >= 0 (0 walks every step), got ${JSON.stringify(minCanaryRequestsPerMinute)}`,
    );
  }
  if (!isFiniteNumber(accuracyMargin) || accuracyMargin <= 0 || accuracyMargin >= 1) {
    problems.push(
      `accuracyMargin must be a fraction in (0, 1) (0.01 = one accuracy point), got ${JSON.stringify(accuracyMargin)}`,
    );
  }
  if (!isFiniteNumber(distributionMargin) || distributionMargin <= 0 || distributionMargin >= 1) {
    problems.push(
      `distributionMargin must be a total variation in (0, 1), e.g. 0.1, got ${JSON.stringify(distributionMargin)}`,
    );
  }
  if (
    !isFiniteNumber(errorDispersionPriorCv2) ||
    errorDispersionPriorCv2 < 0 ||
    errorDispersionPriorCv2 > 4
  ) {
    problems.push(
      `errorDispersionPriorCv2 must be a CV² in [0, 4] (1: a CV-1 world, the cautious guess), got ${JSON.stringify(errorDispersionPriorCv2)}`,
    );
  }
  if (problems.length > 0) {
    throw new RolloutPolicyError(problems);
  }
  const regression = errorRegression as Record<string, number>;
  return Object.freeze({
    steps: Object.freeze([...(steps as number[])]),
    minBakeMinutes: minBakeMinutes as number,
    deadlineMinutes: deadlineMinutes as number,
    alpha: alpha as number,
    errorRegression: Object.freeze({ ratio: regression.ratio, increase: regression.increase }),
    latencyRegressionRatio: latencyRegressionRatio as number,
    tailLatencyRegressionRatio: tailLatencyRegressionRatio as number,
    tailLatencyMarginRatio: tailLatencyMarginRatio as number,
    publicationLagMinutes: publicationLagMinutes as number,
    minCanaryRequestsPerMinute: minCanaryRequestsPerMinute as number,
    accuracyMargin: accuracyMargin as number,
    distributionMargin: distributionMargin as number,
    errorDispersionPriorCv2: errorDispersionPriorCv2 as number,
  });
}

/** Weights of a given step: the canary gets the step's percentage, the baseline the rest. */
export function weightsForStep(policy: RolloutPolicy, stepIndex: number): VariantWeights {
  const canary = policy.steps[stepIndex];
  if (canary === undefined) {
    throw new RangeError(`stepIndex ${stepIndex} is outside the policy's ${policy.steps.length} steps`);
  }
  return { baseline: 100 - canary, canary };
}

/**
 * The weights the controller applies after a verdict. Promotion moves to the first step above the
 * current canary weight (so it always ends at 100 %), rollback sends everything to the baseline, and
 * wait leaves the endpoint alone.
 */
export function nextWeights(
  current: VariantWeights,
  verdict: Verdict,
  policy: RolloutPolicy,
): VariantWeights {
  switch (verdict) {
    case 'rollback':
      return { baseline: 100, canary: 0 };
    case 'wait':
      return { baseline: current.baseline, canary: current.canary };
    case 'promote': {
      const next = policy.steps.find((step) => step > current.canary) ?? 100;
      return { baseline: 100 - next, canary: next };
    }
  }
}

/** The canary weight of the step after `stepIndex`: the exposure a promotion would lead to. */
export function nextStepWeight(policy: RolloutPolicy, stepIndex: number): number {
  return policy.steps[Math.min(stepIndex + 1, policy.steps.length - 1)] ?? 100;
}
