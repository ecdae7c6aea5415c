import { Duration } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as pipelines from 'aws-cdk-lib/pipelines';
import type { ReleaseStore } from './release-store';
import type { MlInferenceStage } from '../stages/ml-inference-stage';
import { npmInstallCommands } from './installs';
import { DEFAULT_QUALITY_MARGIN } from '../../services/evaluation/evaluate';
import { pipelineStepRoleOf } from './step-roles';

/** Where the smoke test writes its JUnit report, relative to the source root. */
export const SMOKE_JUNIT_FILE = 'reports/smoke-junit.xml';
/** Where the canary rollout step writes the rollout's record (run-rollout.sh --output). */
export const ROLLOUT_RECORD_FILE = 'reports/rollout.json';
/** The directory both steps expose as their primary output when the dossier reads them. */
const REPORTS_DIR = 'reports';
/** Where the Dossier step writes the dossier, also its primary output (RecordRelease stores it). */
export const DOSSIER_DIR = 'dossier';

/** Options of a wave's post-deploy steps. */
export interface PostDeployOptions {
  /**
   * Expose `reports/` (smoke JUnit, rollout record) as each step's primary output, for the dossier.
   * @default false
   */
  readonly reportsOutput?: boolean;
}

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

/** `VariantA=<baseline>,VariantB=<candidate>` as this stage deploys them. */
function variantsArgument(stage: MlInferenceStage): string {
  const { baselineVersion, candidateVersion } = stage.inferenceStack;
  return `VariantA=${baselineVersion},VariantB=${candidateVersion}`;
}

/** `--margin-accuracy F --margin-mae F` as the stage's quality margin sets them (the defaults otherwise). */
function marginArguments(stage: MlInferenceStage): string {
  const margin = { ...DEFAULT_QUALITY_MARGIN, ...stage.stageConfig.quality?.margin };
  return `--margin-accuracy ${margin.accuracy} --margin-mae ${margin.relativeMae}`;
}

/**
 * The smoke test of a deployed stage: the smoke CLI against the stage's API URL (a stack output),
 * SigV4-signed with the stage's smoke-test role, which may only invoke that API and the stage's
 * endpoint: it first invokes each variant directly (the candidate enters at weight 0, so this is its
 * only proof before the rollout gives it users), then the API. The JUnit file is
 * published as a CodeBuild test report; a failing check fails the action, so the wave stops before
 * its canary rollout (and, in dev, before the prod approval).
 */
export function smokeTestStep(
  source: pipelines.IFileSetProducer,
  stage: MlInferenceStage,
  options: PostDeployOptions = {},
): pipelines.CodeBuildStep {
  return new pipelines.CodeBuildStep('SmokeTest', {
    input: source,
    primaryOutputDirectory: options.reportsOutput ? REPORTS_DIR : undefined,
    envFromCfnOutputs: {
      API_URL: stage.pipelineOutputs.apiUrl,
      ENDPOINT_NAME: stage.pipelineOutputs.endpointName,
      SMOKE_ROLE_ARN: stage.pipelineOutputs.smokeTestRoleArn,
    },
    commands: [
      ...npmInstallCommands(),
      ...assumeRoleCommands('SMOKE_ROLE_ARN', 'smoke'),
      `npm run smoke -- --api-url "$API_URL" --endpoint-name "$ENDPOINT_NAME" --region ${stage.region ?? '"$AWS_REGION"'} --variants ${variantsArgument(stage)} ${marginArguments(stage)} --junit ${SMOKE_JUNIT_FILE}`,
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
  options: PostDeployOptions = {},
): pipelines.CodeBuildStep {
  const policy = stage.rolloutPolicy;
  const output = options.reportsOutput ? ` --output ${ROLLOUT_RECORD_FILE}` : '';
  return new pipelines.CodeBuildStep('CanaryRollout', {
    input: source,
    primaryOutputDirectory: options.reportsOutput ? REPORTS_DIR : undefined,
    envFromCfnOutputs: {
      STATE_MACHINE_ARN: stage.pipelineOutputs.rolloutStateMachineArn,
      ROLLOUT_ROLE_ARN: stage.pipelineOutputs.rolloutRoleArn,
    },
    commands: [
      `bash scripts/run-rollout.sh --state-machine-arn "$STATE_MACHINE_ARN" --role-arn "$ROLLOUT_ROLE_ARN"${output}`,
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

/** A wave's post-deploy steps. */
export interface WaveSteps {
  readonly smoke: pipelines.CodeBuildStep;
  readonly rollout: pipelines.CodeBuildStep;
  /** Both, in order: smoke test, then canary rollout. */
  readonly steps: pipelines.CodeBuildStep[];
}

/** The post-deploy steps of a wave, in order: smoke test, then canary rollout. */
export function postDeploySteps(
  source: pipelines.IFileSetProducer,
  stage: MlInferenceStage,
  options: PostDeployOptions = {},
): WaveSteps {
  const smoke = smokeTestStep(source, stage, options);
  const rollout = canaryRolloutStep(source, stage, options);
  rollout.addStepDependency(smoke);
  return { smoke, rollout, steps: [smoke, rollout] };
}

/** What the Dossier step reads. */
export interface DossierStepProps {
  /** The repository (the dossier CLI runs from it). */
  readonly source: pipelines.CodePipelineSource;
  /** The synth step's cloud assembly (templates, validation report, acknowledgements). */
  readonly cloudAssembly: pipelines.FileSet;
  /** Dev's post-deploy steps, run with `reportsOutput`. */
  readonly dev: WaveSteps;
  readonly store: ReleaseStore;
}

/**
 * Dev's last step: builds the release dossier against the store's latest release from the cloud
 * assembly, dev's smoke JUnit and rollout record, and uploads it to `dossiers/<execution id>/`,
 * where the prod approval links. The commit comes from the source action's variables.
 */
export function dossierStep(props: DossierStepProps): pipelines.CodeBuildStep {
  const { source, dev, store } = props;
  const smokeOut = dev.smoke.primaryOutput;
  const rolloutOut = dev.rollout.primaryOutput;
  if (!smokeOut || !rolloutOut) throw new Error('dossierStep needs dev steps built with reportsOutput: true');
  const step = new pipelines.CodeBuildStep('Dossier', {
    input: source,
    additionalInputs: {
      'cdk.out': props.cloudAssembly,
      'reports-smoke': smokeOut,
      'reports-rollout': rolloutOut,
    },
    env: {
      RELEASE_STORE: store.url,
      PIPELINE_EXECUTION_ID: '#{codepipeline.PipelineExecutionId}',
      COMMIT_ID: source.sourceAttribute('CommitId'),
      COMMIT_MESSAGE: source.sourceAttribute('CommitMessage'),
      COMMIT_AUTHOR_DATE: source.sourceAttribute('AuthorDate'),
    },
    commands: [
      ...npmInstallCommands(),
      'npm run dossier -- --cdk-out cdk.out --store "$RELEASE_STORE" ' +
        `--smoke reports-smoke/${SMOKE_JUNIT_FILE.split('/').pop()} --rollout reports-rollout/${ROLLOUT_RECORD_FILE.split('/').pop()} ` +
        `--out ${DOSSIER_DIR} --upload`,
    ],
    primaryOutputDirectory: DOSSIER_DIR,
    rolePolicyStatements: store.dossierStatements(),
  });
  step.addStepDependency(dev.rollout);
  return step;
}

/**
 * Prod's last step: records the release (every stack's template, the compliance result, the
 * commit and the approved dossier) in the store, so the next dossier compares against it.
 */
export function recordReleaseStep(props: {
  readonly source: pipelines.CodePipelineSource;
  readonly cloudAssembly: pipelines.FileSet;
  readonly dossier: pipelines.CodeBuildStep;
  readonly after: pipelines.Step;
  readonly store: ReleaseStore;
}): pipelines.CodeBuildStep {
  const dossierOut = props.dossier.primaryOutput;
  if (!dossierOut) throw new Error('recordReleaseStep needs the Dossier step');
  const step = new pipelines.CodeBuildStep('RecordRelease', {
    input: props.source,
    additionalInputs: { 'cdk.out': props.cloudAssembly, [DOSSIER_DIR]: dossierOut },
    env: {
      RELEASE_STORE: props.store.url,
      PIPELINE_EXECUTION_ID: '#{codepipeline.PipelineExecutionId}',
      COMMIT_ID: props.source.sourceAttribute('CommitId'),
      COMMIT_MESSAGE: props.source.sourceAttribute('CommitMessage'),
      COMMIT_AUTHOR_DATE: props.source.sourceAttribute('AuthorDate'),
    },
    commands: [
      ...npmInstallCommands(),
      `npm run dossier -- --cdk-out cdk.out --store "$RELEASE_STORE" --out ${DOSSIER_DIR} --record`,
    ],
    rolePolicyStatements: props.store.recordStatements(),
  });
  step.addStepDependency(props.after);
  return step;
}
