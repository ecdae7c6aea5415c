import {
  createRolloutPolicy,
  DEFAULT_MIN_CANARY_REQUESTS_PER_MINUTE,
  DEFAULT_PUBLICATION_LAG_MINUTES,
  DEFAULT_TAIL_LATENCY_MARGIN_RATIO,
  DEFAULT_TAIL_LATENCY_REGRESSION_RATIO,
  DEV_ROLLOUT_POLICY,
  nextWeights,
  PROD_ROLLOUT_POLICY,
  RolloutPolicyError,
  weightsForStep,
} from '../../services/rollout/policy';

const valid = {
  steps: [5, 25, 50, 100],
  minBakeMinutes: 2,
  deadlineMinutes: 60,
  alpha: 0.05,
  errorRegression: { ratio: 2, increase: 0.01 },
  latencyRegressionRatio: 1.2,
};

function problemsOf(input: unknown): readonly string[] {
  try {
    createRolloutPolicy(input);
  } catch (error) {
    if (error instanceof RolloutPolicyError) return error.problems;
    throw error;
  }
  throw new Error('expected the policy to be rejected');
}

describe('createRolloutPolicy', () => {
  it('accepts the shipped dev and prod policies unchanged', () => {
    expect(createRolloutPolicy(DEV_ROLLOUT_POLICY)).toEqual(DEV_ROLLOUT_POLICY);
    expect(createRolloutPolicy(PROD_ROLLOUT_POLICY)).toEqual(PROD_ROLLOUT_POLICY);
  });

  it('returns a frozen copy that later edits of the input cannot change', () => {
    const input = { ...valid, steps: [...valid.steps] };
    const policy = createRolloutPolicy(input);
    input.steps.push(200);
    expect(policy.steps).toEqual([5, 25, 50, 100]);
    expect(Object.isFrozen(policy)).toBe(true);
  });

  it.each([
    [{ steps: [] }, /steps must be a non-empty array/],
    [{ steps: [10, 50] }, /last step must be 100/],
    [{ steps: [25, 5, 100] }, /steps must increase strictly: steps\[1\]=5/],
    [{ steps: [0, 100] }, /steps\[0\] must be a percentage in \(0, 100\]/],
    [{ minBakeMinutes: -1 }, /minBakeMinutes must be a number >= 0/],
    [{ deadlineMinutes: 0 }, /deadlineMinutes must be a number > 0/],
    [{ deadlineMinutes: 3, minBakeMinutes: 2 }, /shorter than the bakes alone \(6\)/],
    [{ alpha: 0.5 }, /alpha must be a significance level in \(0, 0.5\)/],
    [{ errorRegression: { ratio: 1, increase: 0.01 } }, /errorRegression.ratio must be > 1/],
    [{ errorRegression: { ratio: 2, increase: 1 } }, /errorRegression.increase must be a fraction/],
    [{ errorRegression: 2 }, /errorRegression must be an object/],
    [{ latencyRegressionRatio: 0.9 }, /latencyRegressionRatio must be > 1/],
    [
      { errorRegression: { ratio: 2, increase: 0 } },
      /increase must be a fraction in \(0, 1\).*zero-error baseline/,
    ],
    [{ tailLatencyRegressionRatio: 1 }, /tailLatencyRegressionRatio must be > 1/],
    [
      { tailLatencyRegressionRatio: 1.5, tailLatencyMarginRatio: 1.4 },
      /tailLatencyMarginRatio must be a number >= tailLatencyRegressionRatio \(1.5\), got 1.4/,
    ],
    [{ minCanaryRequestsPerMinute: -1 }, /minCanaryRequestsPerMinute must be a number >= 0/],
    [{ errorDispersionPriorCv2: -0.5 }, /errorDispersionPriorCv2 must be a CV² in \[0, 4\]/],
    [{ publicationLagMinutes: 0 }, /publicationLagMinutes must be a whole number of minutes in \[1, 15\]/],
    [{ publicationLagMinutes: 2.5 }, /publicationLagMinutes must be a whole number/],
    [
      { publicationLagMinutes: 10, deadlineMinutes: 10, minBakeMinutes: 1 },
      /must be shorter than deadlineMinutes/,
    ],
  ])('rejects %j with a message that says what to change', (override, message) => {
    const problems = problemsOf({ ...valid, ...override });
    expect(problems.some((p) => message.test(p))).toBe(true);
  });

  it('fills the optional judge settings of a policy written before they existed', () => {
    const policy = createRolloutPolicy(valid);
    expect(policy.publicationLagMinutes).toBe(DEFAULT_PUBLICATION_LAG_MINUTES);
    expect(policy.tailLatencyRegressionRatio).toBe(DEFAULT_TAIL_LATENCY_REGRESSION_RATIO);
    expect(policy.tailLatencyMarginRatio).toBe(DEFAULT_TAIL_LATENCY_MARGIN_RATIO);
    expect(policy.minCanaryRequestsPerMinute).toBe(DEFAULT_MIN_CANARY_REQUESTS_PER_MINUTE);
    expect(createRolloutPolicy({ ...valid, publicationLagMinutes: 5 }).publicationLagMinutes).toBe(5);
  });

  it('reports every problem at once', () => {
    expect(() => createRolloutPolicy({ ...valid, alpha: 2, latencyRegressionRatio: 1 })).toThrow(
      /alpha must be .*; latencyRegressionRatio must be > 1/,
    );
    expect(() => createRolloutPolicy('fast')).toThrow('Invalid rollout policy: policy must be an object');
  });
});

describe('nextWeights', () => {
  const policy = createRolloutPolicy(valid);

  it('promotes to the next step and ends at canary 100 %', () => {
    expect(nextWeights({ baseline: 95, canary: 5 }, 'promote', policy)).toEqual({ baseline: 75, canary: 25 });
    expect(nextWeights({ baseline: 50, canary: 50 }, 'promote', policy)).toEqual({
      baseline: 0,
      canary: 100,
    });
    expect(nextWeights({ baseline: 0, canary: 100 }, 'promote', policy)).toEqual({
      baseline: 0,
      canary: 100,
    });
  });

  it('starts a rollout at the first step from baseline only', () => {
    expect(nextWeights({ baseline: 100, canary: 0 }, 'promote', policy)).toEqual({ baseline: 95, canary: 5 });
  });

  it('moves weights that are off the step list to the next step above them', () => {
    expect(nextWeights({ baseline: 70, canary: 30 }, 'promote', policy)).toEqual({
      baseline: 50,
      canary: 50,
    });
  });

  it('rolls back to baseline 100 / canary 0 from any step', () => {
    for (const canary of policy.steps) {
      expect(nextWeights({ baseline: 100 - canary, canary }, 'rollback', policy)).toEqual({
        baseline: 100,
        canary: 0,
      });
    }
  });

  it('leaves the weights alone on wait', () => {
    expect(nextWeights({ baseline: 75, canary: 25 }, 'wait', policy)).toEqual({ baseline: 75, canary: 25 });
  });

  it('gives the weights of a step and refuses a step the policy does not have', () => {
    expect(weightsForStep(policy, 1)).toEqual({ baseline: 75, canary: 25 });
    expect(() => weightsForStep(policy, 4)).toThrow(RangeError);
  });
});
