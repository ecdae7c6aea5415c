import { Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as codepipeline from 'aws-cdk-lib/aws-codepipeline';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as pipelines from 'aws-cdk-lib/pipelines';
import { Construct } from 'constructs';
import { artifactStores } from './cross-region-support';
import { lockedVersion, NO_INSTALL_SCRIPTS, npmInstallCommands } from './installs';
import { acknowledgePipelineGrants, removeWildcardBuildControl } from './pipeline-grants';
import { dossierStep, postDeploySteps, recordReleaseStep } from './post-deploy-steps';
import { approvalActionOf, ProdApprovals } from './prod-approvals';
import { registryGuardStep } from './registry-guard-step';
import { ReleaseStore } from './release-store';
import { EncryptionKey } from '../app/encryption-key';
import { acknowledgeAccessLogBucket, secureBucket } from '../app/secure-bucket';
import { acknowledgeGrantPolicies } from '../compliance';
import { MlInferenceStage } from '../stages/ml-inference-stage';
import type { AppConfig } from '../stages/stage-config';
import { qualityReportFile } from '../../services/evaluation/report-file';
import { STAGE_KEYS } from '../../services/registry/model-versions';
import { DEV_ROLLOUT_POLICY, PROD_ROLLOUT_POLICY } from '../../services/rollout/policy';
import { DEV_ROLLOUT_TRAFFIC, PROD_ROLLOUT_TRAFFIC } from '../../services/traffic/config';

/** Properties of {@link PipelineStack}. */
export interface PipelineStackProps extends StackProps {
  /** The validated application configuration. */
  readonly config: AppConfig;
}

/**
 * Commands of the synth step: a clean install without install scripts, the full test suite, synth with the compliance checks,
 * the offline evaluation of each stage's candidate against its baseline (a refused candidate fails the
 * build, so nothing deploys; docs/QUALITY.md), then the compliance report. The evaluation and compliance
 * reports are written into the synth artifact (`quality/<stage>.json`, `compliance/compliance.html`).
 */
export const SYNTH_COMMANDS = [
  ...npmInstallCommands(),
  'npm test',
  'npx cdk synth',
  ...STAGE_KEYS.map(
    (stage) => `npm run evaluate -- --stage ${stage} --out cdk.out/${qualityReportFile(stage)}`,
  ),
  'npm run compliance',
];

/**
 * The delivery pipeline: a push to the configured branch is built and tested, the pipeline updates
 * itself, assets are published, then Dev is deployed, smoke-tested and rolled out to its candidate
 * model; a person approves, and Prod goes through the same deploy, smoke test and rollout.
 */
export class PipelineStack extends Stack {
  /** The CDK pipeline (built by the time the constructor returns). */
  readonly pipeline: pipelines.CodePipeline;
  /** Approved releases and the dossiers the prod approval links to. */
  readonly releaseStore: ReleaseStore;
  /** The Dev and Prod stages, in deployment order. */
  readonly stages: { readonly dev: MlInferenceStage; readonly prod: MlInferenceStage };

  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id, props);
    const { config } = props;

    const artifactKey = new EncryptionKey(this, 'ArtifactKey', {
      description: 'Encrypts pipeline artifacts; shared with the dev and prod deployment roles',
    }).key;
    const accessLogs = secureBucket(this, 'ArtifactAccessLogs', {
      retain: true,
      encryption: s3.BucketEncryption.S3_MANAGED,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ expiration: Duration.days(365), noncurrentVersionExpiration: Duration.days(30) }],
    });
    acknowledgeAccessLogBucket(accessLogs);
    const artifactBucket = secureBucket(this, 'ArtifactBucket', {
      retain: true,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: artifactKey,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'artifacts/',
      lifecycleRules: [{ expiration: Duration.days(90), noncurrentVersionExpiration: Duration.days(30) }],
    });
    const buildLogs = new logs.LogGroup(this, 'BuildLogs', {
      encryptionKey: artifactKey,
      retention: logs.RetentionDays.ONE_YEAR,
    });

    const stores = artifactStores(this, artifactBucket, [config.dev.target, config.prod.target]);
    const codePipeline = new codepipeline.Pipeline(this, 'Pipeline', {
      pipelineType: codepipeline.PipelineType.V2,
      ...stores,
      restartExecutionOnUpdate: true,
    });

    const source = pipelines.CodePipelineSource.connection(config.source.repository, config.source.branch, {
      connectionArn: config.source.connectionArn,
      triggerOnPush: true,
    });

    const synth = new pipelines.ShellStep('Synth', {
      input: source,
      commands: SYNTH_COMMANDS,
      primaryOutputDirectory: 'cdk.out',
    });
    this.releaseStore = new ReleaseStore(this, 'ReleaseStore', { accessLogs });

    this.pipeline = new pipelines.CodePipeline(this, 'Delivery', {
      codePipeline,
      selfMutation: true,
      // The CLIs CDK Pipelines installs are the ones package-lock.json pins.
      cliVersion: lockedVersion('aws-cdk'),
      cdkAssetsCliVersion: lockedVersion('cdk-assets'),
      synth,
      codeBuildDefaults: {
        buildEnvironment: {
          buildImage: codebuild.LinuxBuildImage.STANDARD_7_0,
          computeType: codebuild.ComputeType.MEDIUM,
          environmentVariables: NO_INSTALL_SCRIPTS,
        },
        timeout: Duration.minutes(45),
        logging: { cloudWatch: { logGroup: buildLogs } },
        partialBuildSpec: codebuild.BuildSpec.fromObject({
          phases: { install: { 'runtime-versions': { nodejs: '22' } } },
        }),
      },
      // Container images (model server, batch scorer) are built when assets are published.
      dockerEnabledForSelfMutation: false,
      dockerEnabledForSynth: false,
    });

    const pipelineAccount = config.pipeline.account;
    const dev = new MlInferenceStage(this, 'Dev', {
      project: config.project,
      config: config.dev,
      pipelineAccount,
      defaultRolloutPolicy: DEV_ROLLOUT_POLICY,
      defaultRolloutTraffic: DEV_ROLLOUT_TRAFFIC,
    });
    const prod = new MlInferenceStage(this, 'Prod', {
      project: config.project,
      config: config.prod,
      pipelineAccount,
      defaultRolloutPolicy: PROD_ROLLOUT_POLICY,
      defaultRolloutTraffic: PROD_ROLLOUT_TRAFFIC,
    });
    this.stages = { dev, prod };

    const approvals = new ProdApprovals(this, 'ProdApprovals', {
      approvers: config.approvals.approvers,
      emails: config.approvals.emails,
    });
    // Each wave: registry guard → deploy → smoke test → canary rollout; a failure stops the pipeline
    // there. Dev ends with the release dossier the prod approval links to; prod ends by recording the release.
    const store = this.releaseStore;
    const cloudAssembly = synth.primaryOutput!;
    const devSteps = postDeploySteps(source, dev, { reportsOutput: true });
    const dossier = dossierStep({ source, cloudAssembly, dev: devSteps, store });
    this.pipeline.addStage(dev, {
      pre: [registryGuardStep(source, dev, 'dev', codePipeline)],
      post: [...devSteps.steps, dossier],
    });
    const prodGuard = registryGuardStep(source, prod, 'prod', codePipeline);
    const approval = new pipelines.ManualApprovalStep('PromoteToProd', {
      comment:
        `Commit: ${source.sourceAttribute('CommitId')}. It passed dev's smoke test and canary rollout. ` +
        `Before approving ${config.prod.stageName}, read its release dossier (review link): what changed ` +
        'since the last approved release, permissions first, and how dev went.',
      reviewUrl: store.reviewUrl('#{codepipeline.PipelineExecutionId}'),
      notificationTopic: approvals.topic,
    });
    approval.addStepDependency(prodGuard);
    const prodSteps = postDeploySteps(source, prod);
    this.pipeline.addStage(prod, {
      pre: [prodGuard, approval],
      post: [
        ...prodSteps.steps,
        recordReleaseStep({ source, cloudAssembly, dossier, after: prodSteps.rollout, store }),
      ],
    });
    this.pipeline.buildPipeline();
    const prodApproval = approvalActionOf(codePipeline, prod.stageName);
    approvals.grantApproval(codePipeline, prodApproval.stageName, prodApproval.actionName);
    // The approvers open the review link, so they may read the dossiers (and nothing else of the store).
    if (approvals.approverPolicy) store.grantReadDossiers(approvals.approverPolicy);
    removeWildcardBuildControl(this);
    acknowledgePipelineGrants(
      this,
      Object.values(stores.crossRegionReplicationBuckets ?? {}).filter((b) => b !== artifactBucket),
    );
    acknowledgeGrantPolicies(this);
  }
}
