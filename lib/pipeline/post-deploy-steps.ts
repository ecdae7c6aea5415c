import { Duration } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as pipelines from 'aws-cdk-lib/pipelines';
import type { MlInferenceStage } from '../stages/ml-inference-stage';
import { npmInstallCommands } from './installs';
import { pipelineStepRoleOf } from './step-roles';

/** Where the smoke test writes its JUnit report, relative to the source root. */
export const SMOKE_JUNIT_FILE = 'reports/smoke-junit.xml';

/** CodeBuild's most generous build timeout; a prod rollout may bake for hours. */
const MAX_BUILD_MINUTES = 480;

/**
 * Commands that assume `roleArnVariable`'s role and export its credentials for the following
 * commands (CodeBuild runs a phase's commands in one shell, which may be POSIX sh).
 */
export function assumeRoleCommands(roleArnVariable: string, sessionName: string): string[] {
  return [
    `creds="$(aws sts assume-role --role-arn "$${roleArnVariable}" --role-session-name "${sessionName}-$CODEBUILD_BUILD_NUMBER" --query 'Credentials.[AccessKeyId,SecretAccessKey,SessionToken]' --output text)"`,
    'export AWS_ACCESS_KEY_ID="$(printf %s "$creds" | cut -f1)"',
    'export AWS_SECRET_ACCESS_KEY="$(printf %s "$creds" | cut -f2)"',
    'export AWS_SESSION_TOKEN="$(printf %s "$creds" | cut -f3)"',
  ];
}

/**
 * The smoke test of a deployed stage: the smoke CLI against the stage's API URL (a stack output),
 * SigV4-signed with the stage's smoke-test role, which may only invoke that API. The JUnit file is
 * published as a CodeBuild test report; a failing check fails the action, so the wave stops before
 * its canary rollout (and, in dev, before the prod approval).
 */
export function smokeTestStep(
  source: pipelines.IFileSetProducer,
  stage: MlInferenceStage,
): pipelines.CodeBuildStep {
  return new pipelines.CodeBuildStep('SmokeTest', {
    input: source,
    envFromCfnOutputs: {
      API_URL: stage.pipelineOutputs.apiUrl,
      SMOKE_ROLE_ARN: stage.pipelineOutputs.smokeTestRoleArn,
    },
    commands: [
      ...npmInstallCommands(),
      ...assumeRoleCommands('SMOKE_ROLE_ARN', 'smoke'),
      `npm run smoke -- --api-url "$API_URL" --junit ${SMOKE_JUNIT_FILE}`,
    ],
    partialBuildSpec: codebuild.BuildSpec.fromObject({
      reports: {
        SmokeTests: {
          files: [SMOKE_JUNIT_FILE.split('/').pop()],
          'base-directory': SMOKE_JUNIT_FILE.split('/').slice(0, -1).join('/'),
          'file-format': 'JUNITXML',
        },
      },
    }),
    role: pipelineStepRoleOf(stage, 'smoke-test'),
    rolePolicyStatements: [
      new iam.PolicyStatement({
        actions: ['sts:AssumeRole'],
        resources: [stage.pipelineRoles.smokeTestRoleArn],
      }),
    ],
  });
}

/**
 * The canary rollout of a deployed stage: `scripts/run-rollout.sh` assumes the stage's rollout role,
 * starts the rollout state machine and waits for its outcome; a rollback fails the action, so the
 * next wave never starts. Runs as long as the stage's rollout policy may take.
 */
export function canaryRolloutStep(
  source: pipelines.IFileSetProducer,
  stage: MlInferenceStage,
): pipelines.CodeBuildStep {
  const policy = stage.rolloutPolicy;
  return new pipelines.CodeBuildStep('CanaryRollout', {
    input: source,
    envFromCfnOutputs: {
      STATE_MACHINE_ARN: stage.pipelineOutputs.rolloutStateMachineArn,
      ROLLOUT_ROLE_ARN: stage.pipelineOutputs.rolloutRoleArn,
    },
    commands: [
      'bash scripts/run-rollout.sh --state-machine-arn "$STATE_MACHINE_ARN" --role-arn "$ROLLOUT_ROLE_ARN"',
    ],
    timeout: Duration.minutes(Math.min(policy.deadlineMinutes + 60, MAX_BUILD_MINUTES)),
    role: pipelineStepRoleOf(stage, 'rollout'),
    rolePolicyStatements: [
      new iam.PolicyStatement({
        actions: ['sts:AssumeRole'],
        resources: [stage.pipelineRoles.rolloutRoleArn],
      }),
    ],
  });
}

/** The post-deploy steps of a wave, in order: smoke test, then canary rollout. */
export function postDeploySteps(
  source: pipelines.IFileSetProducer,
  stage: MlInferenceStage,
): pipelines.Step[] {
  const smoke = smokeTestStep(source, stage);
  const rollout = canaryRolloutStep(source, stage);
  rollout.addStepDependency(smoke);
  return [smoke, rollout];
}
