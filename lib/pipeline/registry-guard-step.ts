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
 * Shell that decides how the guard runs. With the stage's registry reader role assumed it reads the
 * registry. If the role cannot be assumed and this pipeline has never completed a deploy action of
 * the stage, the stage does not exist yet (the first run): the guard records that and passes. If the
 * stage was deployed before, an unassumable role fails the step.
 */
export function guardCommand(stageKey: StageKey, pipelineStageName: string): string {
  const guard = `npm run guard -- --stage ${stageKey} --report ${GUARD_REPORT_FILE}`;
  const deployedBefore =
    'aws codepipeline list-action-executions --pipeline-name "${CODEBUILD_INITIATOR#codepipeline/}" ' +
    `--query "actionExecutionDetails[?stageName=='${pipelineStageName}' && status=='Succeeded' && input.actionTypeId.provider=='CloudFormation'].actionName" --output text`;
  const [assume, ...exportLines] = assumeRoleCommands('REGISTRY_ROLE_ARN', 'registry-guard');
  return [
    `if ${assume!}; then`,
    ...exportLines.map((line) => `  ${line}`),
    `  ${guard}`,
    `elif [ -z "$(${deployedBefore})" ]; then`,
    `  ${guard} --not-deployed`,
    'else',
    `  echo "guard: cannot assume $REGISTRY_ROLE_ARN although this pipeline deployed ${pipelineStageName} before: check the role's trust policy" >&2`,
    '  exit 1',
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
