import { npmInstallCommands } from './installs';
import { pipelineStepRoleOf } from './step-roles';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as codepipeline from 'aws-cdk-lib/aws-codepipeline';
import * as pipelines from 'aws-cdk-lib/pipelines';
import type { MlInferenceStage } from '../stages/ml-inference-stage';
import type { StageKey } from '../../services/registry/model-versions';
import { assumeRoleCommands } from './post-deploy-steps';

/** Where the guard writes its report, relative to the source root (docs/CONTRACTS.md). */
export const GUARD_REPORT_FILE = 'reports/guard.json';

/**
 * Shell that decides how the guard runs. It fails closed: every error reading the registry or the
 * pipeline's history fails the step, naming the call that failed. With the stage's registry reader
 * role assumed (and three credentials returned) it reads the registry. If the role cannot be assumed,
 * it reads this pipeline's history: only when that read succeeds and shows no completed deploy action
 * of the stage is the stage taken as not deployed yet (the first run), recorded, and passed.
 */
export function guardCommand(stageKey: StageKey, pipelineStageName: string): string {
  const guard = `npm run guard -- --stage ${stageKey} --report ${GUARD_REPORT_FILE}`;
  const fail = (message: string): string[] => [`  echo "guard: FAIL: ${message}" >&2`, '  exit 1'];
  const deployedBefore =
    'aws codepipeline list-action-executions --pipeline-name "$pipeline" ' +
    `--query "actionExecutionDetails[?stageName=='${pipelineStageName}' && status=='Succeeded' && input.actionTypeId.provider=='CloudFormation'].actionName" --output text`;
  const [assume, ...exportLines] = assumeRoleCommands('REGISTRY_ROLE_ARN', 'registry-guard');
  const threeCredentials = `printf '%s\\n' "$creds" | awk -F '\\t' 'NF == 3 && $1 != "" && $1 != "None" && $2 != "" && $3 != "" { ok = 1 } END { exit !ok }'`;
  return [
    `if ${assume!}; then`,
    `  if ! ${threeCredentials}; then`,
    ...fail(
      'aws sts assume-role of $REGISTRY_ROLE_ARN succeeded but returned no credentials, so the registry cannot be read',
    ).map((l) => `  ${l}`),
    '  fi',
    ...exportLines.map((line) => `  ${line}`),
    `  ${guard}`,
    'else',
    '  pipeline="${CODEBUILD_INITIATOR#codepipeline/}"',
    '  if [ -z "$pipeline" ] || [ "$pipeline" = "$CODEBUILD_INITIATOR" ]; then',
    ...fail(
      `cannot assume $REGISTRY_ROLE_ARN (aws sts assume-role failed, above), and CODEBUILD_INITIATOR ('$CODEBUILD_INITIATOR') names no pipeline whose history would show whether ${pipelineStageName} was deployed before`,
    ).map((l) => `  ${l}`),
    '  fi',
    `  if ! deployed="$(${deployedBefore})"; then`,
    ...fail(
      `cannot assume $REGISTRY_ROLE_ARN (aws sts assume-role failed, above), and aws codepipeline list-action-executions of $pipeline failed (above), so whether ${pipelineStageName} was deployed before is unknown`,
    ).map((l) => `  ${l}`),
    '  fi',
    '  if [ -n "$deployed" ] && [ "$deployed" != "None" ]; then',
    ...fail(
      `cannot assume $REGISTRY_ROLE_ARN although this pipeline deployed ${pipelineStageName} before: check the role's trust policy`,
    ).map((l) => `  ${l}`),
    '  fi',
    `  ${guard} --not-deployed`,
    'fi',
  ].join('\n');
}

/**
 * The pre-deploy guard of a wave: `npm run guard` reads the stage's model registry through the
 * stage's registry reader role and fails when the commit's config/model-versions.json would put an
 * older baseline or an already rejected version in front of users. Its report
 * (`reports/guard.json`) is the step's primary output, for the release dossier.
 */
export function registryGuardStep(
  source: pipelines.CodePipelineSource,
  stage: MlInferenceStage,
  stageKey: StageKey,
  pipeline: codepipeline.IPipeline,
): pipelines.CodeBuildStep {
  return new pipelines.CodeBuildStep('RegistryGuard', {
    input: source,
    env: {
      REGISTRY_ROLE_ARN: stage.pipelineRoles.registryReaderRoleArn,
      COMMIT_ID: source.sourceAttribute('CommitId'),
    },
    commands: [...npmInstallCommands(), guardCommand(stageKey, stage.stageName)],
    role: pipelineStepRoleOf(stage, 'registry-guard'),
    primaryOutputDirectory: GUARD_REPORT_FILE.split('/').slice(0, -1).join('/'),
    rolePolicyStatements: [
      new iam.PolicyStatement({
        actions: ['sts:AssumeRole'],
        resources: [stage.pipelineRoles.registryReaderRoleArn],
      }),
      new iam.PolicyStatement({
        actions: ['codepipeline:ListActionExecutions'],
        resources: [pipeline.pipelineArn],
      }),
    ],
  });
}
