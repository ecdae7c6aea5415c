/**
 * Choice conditions of the canary rollout state machine (CanaryRollout): what the endpoint reads back
 * as, and whether the judge's answer fits its contract. Pure functions of the variant names and the
 * policy, so the state machine is built from whatever steps the stage's policy has.
 */
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { weightsForStep, type RolloutPolicy } from '../../../services/rollout/policy';

/**
 * Endpoint statuses during which a weight change is still being applied: keep polling (bounded). A
 * `RollingBack` endpoint ends `InService` with its old weights, which the read-back then tells apart.
 */
const UPDATING_STATUSES = ['Updating', 'SystemUpdating', 'Creating', 'RollingBack'];

/** Where a describe's `EndpointStatus` lands in the state (the poll's result path is `$.endpoint`). */
export const ENDPOINT_STATUS = '$.endpoint.EndpointStatus';

/** JSONPath to a variant's weight in the state (bracket notation for names that are not identifiers). */
export function weightPath(variant: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(variant) ? `$.weights.${variant}` : `$.weights['${variant}']`;
}

/**
 * The judge's answer fits its contract (docs/ROLLOUT.md) and the policy: a known verdict; a rollback
 * says why; a promotion moves exactly one policy step from `$.stepIndex`, with that step's weights (which
 * sum to 100) and `done` true exactly when that step is canary 100 %. Built from the policy at synth.
 */
export function validAnswer(policy: RolloutPolicy, baseline: string, canary: string): sfn.Condition {
  const field = (name: string): string => `$.judgement.${name}`;
  const answerWeight = (variant: string): string =>
    weightPath(variant).replace('$.weights', '$.judgement.weights');
  const typed = (path: string, type: (p: string) => sfn.Condition): sfn.Condition =>
    sfn.Condition.and(sfn.Condition.isPresent(path), type(path));
  const promotions = policy.steps.slice(0, -1).map((_, index) => {
    const next = weightsForStep(policy, index + 1);
    return sfn.Condition.and(
      sfn.Condition.numberEquals('$.stepIndex', index),
      sfn.Condition.numberEquals(field('nextStepIndex'), index + 1),
      sfn.Condition.numberEquals(answerWeight(baseline), next.baseline),
      sfn.Condition.numberEquals(answerWeight(canary), next.canary),
      sfn.Condition.booleanEquals(field('done'), next.canary === 100),
    );
  });
  const answers = [
    sfn.Condition.stringEquals(field('verdict'), 'wait'),
    sfn.Condition.and(
      sfn.Condition.stringEquals(field('verdict'), 'rollback'),
      typed(field('reason'), sfn.Condition.isString),
    ),
  ];
  // A one-step policy starts at canary 100 %: no step to promote to, so no promotion is valid.
  if (promotions.length > 0) {
    answers.push(
      sfn.Condition.and(
        sfn.Condition.stringEquals(field('verdict'), 'promote'),
        typed(field('nextStepIndex'), sfn.Condition.isNumeric),
        typed(answerWeight(baseline), sfn.Condition.isNumeric),
        typed(answerWeight(canary), sfn.Condition.isNumeric),
        typed(field('done'), sfn.Condition.isBoolean),
        sfn.Condition.or(...promotions),
      ),
    );
  }
  return sfn.Condition.and(typed(field('verdict'), sfn.Condition.isString), sfn.Condition.or(...answers));
}

/** Conditions on a DescribeEndpoint answer at `$.endpoint`. */
export interface EndpointReadback {
  /** A string status and a numeric CurrentWeight for both variants: anything else is no answer. */
  readonly readable: sfn.Condition;
  /** `InService`, canary weight 0 and baseline weight above 0: baseline 100 %. */
  readonly servesBaselineOnly: sfn.Condition;
  /** `InService`, baseline weight 0 and canary weight above 0: canary 100 %. */
  readonly servesCanaryOnly: sfn.Condition;
  /** `InService` with the weights asked (`$.weights`): canary 100 % as a share, a partial step exactly. */
  readonly servesAskedWeights: sfn.Condition;
  /** A weight change is still being applied. */
  readonly isUpdating: sfn.Condition;
}

/**
 * DescribeEndpoint's ProductionVariants hold each variant's CurrentWeight, in no promised order.
 * SageMaker weights are relative: a variant's share is its weight over the sum. "Baseline only" and
 * "canary only" are compared as shares (one weight 0, the other positive); a partial step must read
 * back exactly as asked (ASL has no arithmetic to normalise with; the controller only asks weights
 * that sum to 100, and SageMaker reports the weights it was given).
 */
export function endpointReadback(baseline: string, canary: string): EndpointReadback {
  /** The variant's CurrentWeight is a number and passes `test` (looked up at either position). */
  const weightOf = (variant: string, test: (path: string) => sfn.Condition): sfn.Condition =>
    sfn.Condition.or(
      ...[0, 1].map((position) => {
        const at = `$.endpoint.ProductionVariants[${position}]`;
        return sfn.Condition.and(
          sfn.Condition.isPresent(`${at}.VariantName`),
          sfn.Condition.stringEquals(`${at}.VariantName`, variant),
          sfn.Condition.isPresent(`${at}.CurrentWeight`),
          sfn.Condition.isNumeric(`${at}.CurrentWeight`),
          test(`${at}.CurrentWeight`),
        );
      }),
    );
  const readable = sfn.Condition.and(
    sfn.Condition.isPresent(ENDPOINT_STATUS),
    sfn.Condition.isString(ENDPOINT_STATUS),
    weightOf(baseline, sfn.Condition.isNumeric),
    weightOf(canary, sfn.Condition.isNumeric),
  );
  const inService = sfn.Condition.stringEquals(ENDPOINT_STATUS, 'InService');
  const servesBaselineOnly = sfn.Condition.and(
    inService,
    weightOf(canary, (w) => sfn.Condition.numberEquals(w, 0)),
    weightOf(baseline, (w) => sfn.Condition.numberGreaterThan(w, 0)),
  );
  const servesCanaryOnly = sfn.Condition.and(
    inService,
    weightOf(baseline, (w) => sfn.Condition.numberEquals(w, 0)),
    weightOf(canary, (w) => sfn.Condition.numberGreaterThan(w, 0)),
  );
  const servesAskedWeights = sfn.Condition.or(
    sfn.Condition.and(sfn.Condition.numberEquals(weightPath(canary), 100), servesCanaryOnly),
    sfn.Condition.and(
      inService,
      weightOf(canary, (w) => sfn.Condition.numberEqualsJsonPath(w, weightPath(canary))),
      weightOf(baseline, (w) => sfn.Condition.numberEqualsJsonPath(w, weightPath(baseline))),
    ),
  );
  const isUpdating = sfn.Condition.or(
    ...UPDATING_STATUSES.map((updating) => sfn.Condition.stringEquals(ENDPOINT_STATUS, updating)),
  );
  return { readable, servesBaselineOnly, servesCanaryOnly, servesAskedWeights, isUpdating };
}
