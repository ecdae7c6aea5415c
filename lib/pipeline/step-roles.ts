import { Aws, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import type { MlInferenceStage } from '../stages/ml-inference-stage';

/**
 * A pipeline step that assumes a role in a stage's account. The stage's role trusts only the
 * step's own CodeBuild role, so each such step has its own name here.
 */
export type PipelineStepName = 'smoke-test' | 'rollout' | (string & {});

/** The step role names this file builds: lowercase letters, digits and dashes. */
const STEP = /^[a-z][a-z0-9-]{1,15}$/;

/**
 * Name of the CodeBuild role of `step` in the wave of `stageName` (the stage config's name). The
 * name is fixed so that a stage, deployed in another account, can name the exact role it trusts.
 * Namespaced by project and stage, with `pipeline` in it, so the stage's own roles in a one-account
 * layout do not collide with it.
 */
export function pipelineStepRoleName(project: string, stageName: string, step: PipelineStepName): string {
  if (!STEP.test(step)) {
    throw new Error(`pipeline step '${step}': use 2-16 lowercase letters, digits or dashes`);
  }
  const name = `${project}-pipeline-${stageName}-${step}`;
  if (name.length > 64) {
    throw new Error(
      `pipeline step role name '${name}' is longer than IAM's 64 characters; shorten the step name`,
    );
  }
  return name;
}

/** ARN of {@link pipelineStepRoleName}'s role in the pipeline account. */
export function pipelineStepRoleArn(
  pipelineAccount: string,
  project: string,
  stageName: string,
  step: PipelineStepName,
): string {
  return `arn:${Aws.PARTITION}:iam::${pipelineAccount}:role/${pipelineStepRoleName(project, stageName, step)}`;
}

/**
 * The CodeBuild role of `step` under its fixed name, for `CodeBuildStep`'s `role`. CDK Pipelines
 * adds the step's build permissions to it; the step adds the `sts:AssumeRole` it needs.
 */
export function pipelineStepRole(
  scope: Construct,
  project: string,
  stageName: string,
  step: PipelineStepName,
): iam.Role {
  return new iam.Role(scope, `${stageName}-${step}-StepRole`, {
    roleName: pipelineStepRoleName(project, stageName, step),
    assumedBy: new iam.ServicePrincipal('codebuild.amazonaws.com'),
    description: `Pipeline step ${step} of the ${stageName} wave; the only principal the stage's ${step} role trusts`,
  });
}

/**
 * Trust for a stage role that a pipeline step assumes: the pipeline account, limited to the step's
 * exact role ARN. A condition on `aws:PrincipalArn`, not the role ARN as principal, because IAM
 * rewrites a role principal to the role's unique id. A recreated step role would then lose the
 * trust without any error.
 */
export function trustPipelineStep(pipelineAccount: string, stepRoleArn: string): iam.IPrincipal {
  return new iam.AccountPrincipal(pipelineAccount).withConditions({
    ArnEquals: { 'aws:PrincipalArn': stepRoleArn },
  });
}

/**
 * The fixed-name CodeBuild role of `step` in `stage`'s wave, created once in the pipeline stack
 * (the stage's parent), for `CodeBuildStep`'s `role`.
 */
export function pipelineStepRoleOf(stage: MlInferenceStage, step: PipelineStepName): iam.Role {
  const pipelineStack = Stack.of(stage.node.scope as Construct);
  const id = `${stage.stageConfig.stageName}-${step}-StepRole`;
  const existing = pipelineStack.node.tryFindChild(id);
  if (existing instanceof iam.Role) return existing;
  return pipelineStepRole(pipelineStack, stage.project, stage.stageConfig.stageName, step);
}
