import { Aws, CfnOutput, Stage, Tags, type StageProps } from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledgeCdkProviders, acknowledgeGrantPolicies } from '../compliance';
import { ANALYTICS_PREFIX, BatchDataAccess, FEEDBACK_PREFIX } from '../app/batch/batch-data-access';
import { BatchStack } from '../app/batch-stack';
import { DataStack } from '../app/data-stack';
import { InferenceStack } from '../app/inference-stack';
import { PrefixWriteAccess } from '../app/data/prefix-write-access';
import { DATA_CAPTURE_PREFIX } from '../app/model/model-endpoint';
import { NetworkStack } from '../app/network-stack';
import { OperationsStack } from '../app/operations-stack';
import { pipelineStepRoleArn } from '../pipeline/step-roles';
import { createRolloutPolicy, DEV_ROLLOUT_POLICY, type RolloutPolicy } from '../../services/rollout/policy';
import { registryReaderRoleName } from '../../services/registry/names';
import { DEV_ROLLOUT_TRAFFIC, type RolloutTrafficConfig } from '../../services/traffic/config';
import { batchMaxTasks, type StageConfig } from './stage-config';
import { loadModelMetadata } from '../../services/model/artifacts';

/** Properties of {@link MlInferenceStage}. */
export interface MlInferenceStageProps extends StageProps {
  /** Project name, for tags and Parameter Store paths. */
  readonly project: string;
  /** The stage's configuration. */
  readonly config: StageConfig;
  /**
   * Account whose pipeline runs the post-deploy steps; it is trusted by the smoke-test and rollout roles.
   * @default - the stage's own account (a sandbox: run the smoke test and rollout from there)
   */
  readonly pipelineAccount?: string;
  /** Rollout policy when the stage config sets none. @default DEV_ROLLOUT_POLICY */
  readonly defaultRolloutPolicy?: RolloutPolicy;
  /** Rollout traffic source when the stage config sets none. @default DEV_ROLLOUT_TRAFFIC */
  readonly defaultRolloutTraffic?: RolloutTrafficConfig;
}

/** What the pipeline's post-deploy steps read from a deployed stage. */
export interface StagePipelineOutputs {
  /** `ApiUrl`: invoke URL of the inference API. */
  readonly apiUrl: CfnOutput;
  /** `EndpointName`: the SageMaker endpoint whose variants the smoke test invokes directly. */
  readonly endpointName: CfnOutput;
  /** `SmokeTestRoleArn`: the role the smoke test assumes. */
  readonly smokeTestRoleArn: CfnOutput;
  /** `RolloutStateMachineArn`: the canary rollout controller. */
  readonly rolloutStateMachineArn: CfnOutput;
  /** `RolloutRoleArn`: the role the rollout step assumes. */
  readonly rolloutRoleArn: CfnOutput;
}

/** ARNs of the stage's pipeline roles, known before deployment (the names are the interface). */
export interface StagePipelineRoles {
  /** May only invoke this stage's API and its endpoint. */
  readonly smokeTestRoleArn: string;
  /** May only start and describe executions of this stage's rollout. */
  readonly rolloutRoleArn: string;
  /** May only read this stage's model registry (the pre-deploy guard, converge). */
  readonly registryReaderRoleArn: string;
}

/**
 * One complete, independently deployable copy of the ML inference service: network, data and the
 * serving components. The pipeline deploys it as Dev and Prod; a sandbox deploys it directly.
 */
export class MlInferenceStage extends Stage {
  /** Stateful resources. */
  readonly dataStack: DataStack;
  /** The VPC. */
  readonly networkStack: NetworkStack;
  /** Endpoint, API and stream (stateless). */
  readonly inferenceStack: InferenceStack;
  /** Scheduled batch scoring, Glue/Athena analytics and the drift job (stateless). */
  readonly batchStack: BatchStack;
  /** Dashboard, alarms, alert topic, canary rollout and the pipeline's roles. */
  readonly operationsStack: OperationsStack;
  /** Outputs the pipeline's post-deploy steps read. */
  readonly pipelineOutputs: StagePipelineOutputs;
  /** ARNs of the roles the pipeline's post-deploy steps assume. */
  readonly pipelineRoles: StagePipelineRoles;
  /** The validated rollout policy of this stage. */
  readonly rolloutPolicy: RolloutPolicy;
  /** Project name (tags, Parameter Store paths, pipeline step role names). */
  readonly project: string;
  /** The stage's configuration. */
  readonly stageConfig: StageConfig;
  /** The rollout traffic source settings of this stage. */
  readonly rolloutTraffic: RolloutTrafficConfig;

  constructor(scope: Construct, id: string, props: MlInferenceStageProps) {
    const { config } = props;
    super(scope, id, { ...props, env: { account: config.target.account, region: config.target.region } });
    this.project = props.project;
    this.stageConfig = config;

    this.dataStack = new DataStack(this, 'Data', {
      retainData: config.retainData,
      dataRetentionDays: config.dataRetentionDays,
      description: `ML inference ${config.stageName}: key, buckets and predictions table (stateful)`,
    });
    this.networkStack = new NetworkStack(this, 'Network', {
      availabilityZones: config.availabilityZones,
      logRetentionDays: config.logRetentionDays as logs.RetentionDays,
      description: `ML inference ${config.stageName}: isolated VPC with endpoints and flow logs`,
    });
    const { data } = this.dataStack;
    const roleNames = pipelineRoleNames(props.project, config.stageName);
    const roleArn = (name: string): string =>
      `arn:${Aws.PARTITION}:iam::${config.target.account}:role/${name}`;
    this.rolloutTraffic = config.rolloutTraffic ?? props.defaultRolloutTraffic ?? DEV_ROLLOUT_TRAFFIC;
    this.inferenceStack = new InferenceStack(this, 'Inference', {
      // Their requests are not users': stored as source "synthetic", kept out of analytics and drift.
      syntheticCallerRoleArns: [roleArn(roleNames.smokeTest), roleArn(roleNames.traffic)],
      description: `ML inference ${config.stageName}: SageMaker A/B endpoint, IAM-authorized API, Kinesis ingestion`,
      modelParameterPrefix: `/${props.project}/${config.stageName}/model`,
      vpc: this.networkStack.network.vpc,
      subnets: this.networkStack.network.subnets,
      table: data.table,
      dataBucket: data.dataBucket,
      dataKey: data.key,
      dataCapturePolicy: new PrefixWriteAccess(this.dataStack, 'DataCaptureAccess', {
        bucket: data.dataBucket,
        key: data.key,
        prefix: DATA_CAPTURE_PREFIX,
        description: `Write SageMaker endpoint data capture under ${DATA_CAPTURE_PREFIX}/ of the data bucket`,
        wildcardReason: 'SageMaker names data-capture objects itself (endpoint/variant/date/hour/uuid).',
      }).policy,
      logRetentionDays: config.logRetentionDays as logs.RetentionDays,
      logLevel: config.logLevel,
      endpoint: config.endpoint,
      apiThrottle: config.apiThrottle,
    });
    const analyticsName = `${props.project}_${config.stageName}`.replace(/-/g, '_');
    this.batchStack = new BatchStack(this, 'Batch', {
      description: `ML inference ${config.stageName}: scheduled AWS Batch scoring, Glue/Athena analytics, drift job`,
      stageName: config.stageName,
      modelParameters: this.inferenceStack.modelParameters,
      analyticsDatabaseName: analyticsName,
      athenaWorkGroupName: `${props.project}-${config.stageName}-analytics`,
      vpc: this.networkStack.network.vpc,
      subnets: this.networkStack.network.subnets,
      batchBucket: data.batchBucket,
      dataBucket: data.dataBucket,
      dataKey: data.key,
      dataAccessPolicy: new BatchDataAccess(this.dataStack, 'BatchDataAccess', {
        batchBucket: data.batchBucket,
        dataBucket: data.dataBucket,
        key: data.key,
        table: data.table,
      }).policy,
      analyticsExportPolicy: new PrefixWriteAccess(this.dataStack, 'AnalyticsExportAccess', {
        bucket: data.dataBucket,
        key: data.key,
        prefix: ANALYTICS_PREFIX,
        description:
          'Analytics exporter: put JSON-lines objects under the analytics prefix with the data key',
        wildcardReason:
          'Object keys are named after each stream batch (partition and sequence-number range), not known at deploy time.',
      }).policy,
      feedbackExportPolicy: new PrefixWriteAccess(this.dataStack, 'FeedbackExportAccess', {
        bucket: data.dataBucket,
        key: data.key,
        prefix: FEEDBACK_PREFIX,
        description:
          'Analytics exporter: put feedback JSON-lines objects under the feedback prefix with the data key',
        wildcardReason:
          'Object keys are named after each stream batch (partition and sequence-number range), not known at deploy time.',
      }).policy,
      table: data.table,
      modelArchives: [...this.inferenceStack.endpoint.archives.values()],
      logRetentionDays: config.logRetentionDays as logs.RetentionDays,
      logLevel: config.logLevel,
      vcpus: config.batch?.vcpus,
      memoryMiB: config.batch?.memoryMiB,
      maxVcpus: config.batch?.maxVcpus,
      maxTasks: batchMaxTasks(config.batch),
      athenaBytesScannedCutoffMiB: config.batch?.athenaBytesScannedCutoffMiB,
    });

    const inference = this.inferenceStack;
    this.rolloutPolicy = createRolloutPolicy(
      config.rollout ?? props.defaultRolloutPolicy ?? DEV_ROLLOUT_POLICY,
    );
    this.operationsStack = new OperationsStack(this, 'Operations', {
      description: `ML inference ${config.stageName}: dashboard, alarms, alerts, canary rollout, pipeline roles`,
      stageName: config.stageName,
      vpc: this.networkStack.network.vpc,
      subnets: this.networkStack.network.subnets,
      logRetentionDays: config.logRetentionDays as logs.RetentionDays,
      logLevel: config.logLevel,
      endpoint: inference.endpoint,
      api: inference.api.api,
      predictFunction: inference.predictFunction,
      stream: inference.stream.stream,
      deadLetterQueue: inference.stream.deadLetterQueue,
      batchWorkflow: this.batchStack.workflow.stateMachine,
      driftMetric: this.batchStack.drift.metric,
      modelParameterPrefix: inference.modelParameters.prefix,
      candidateVersion: inference.candidateVersion,
      baselineVersion: inference.baselineVersion,
      modelsDir: inference.modelsDir,
      rolloutPolicy: this.rolloutPolicy,
      rolloutTraffic: this.rolloutTraffic,
      trafficRoleName: roleNames.traffic,
      alarmEmail: config.alarmEmail,
      feedbackQuality: {
        table: data.table,
        dataKey: data.key,
        versions: [inference.baselineVersion, inference.candidateVersion].map((v) =>
          loadModelMetadata(v, inference.modelsDir),
        ),
        margin: config.quality?.margin,
      },
      pipelineAccount: props.pipelineAccount ?? config.target.account,
      smokeTestRoleName: roleNames.smokeTest,
      rolloutRoleName: roleNames.rollout,
      registryReaderRoleName: roleNames.registryReader,
      pipelineStepRoleArns: props.pipelineAccount
        ? {
            smokeTest: pipelineStepRoleArn(
              props.pipelineAccount,
              props.project,
              config.stageName,
              'smoke-test',
            ),
            rollout: pipelineStepRoleArn(props.pipelineAccount, props.project, config.stageName, 'rollout'),
            registryGuard: pipelineStepRoleArn(
              props.pipelineAccount,
              props.project,
              config.stageName,
              'registry-guard',
            ),
          }
        : undefined,
    });
    const ops = this.operationsStack;
    this.pipelineOutputs = {
      apiUrl: inference.apiUrlOutput,
      endpointName: inference.endpointNameOutput,
      smokeTestRoleArn: ops.smokeTestRoleArnOutput,
      rolloutStateMachineArn: ops.rolloutStateMachineArnOutput,
      rolloutRoleArn: ops.rolloutRoleArnOutput,
    };
    this.pipelineRoles = {
      smokeTestRoleArn: roleArn(roleNames.smokeTest),
      rolloutRoleArn: roleArn(roleNames.rollout),
      registryReaderRoleArn: roleArn(roleNames.registryReader),
    };

    for (const stack of this.node.children) {
      acknowledgeCdkProviders(stack);
    }
    acknowledgeGrantPolicies(this);
    Tags.of(this).add('Project', props.project);
    Tags.of(this).add('Environment', config.stageName);
    Tags.of(this).add('ManagedBy', 'cdk-pipelines');
    Tags.of(this).add('CostCenter', config.costCenter);
  }
}

/**
 * Names of the roles whose names are an interface: the two the pipeline account assumes in a stage
 * (the pipeline must name their ARNs before the stage exists) and the rollout traffic source's (the
 * predict function recognises synthetic callers by it without a cross-stack reference). Namespaced
 * by project and stage so two stages fit in one account.
 */
export function pipelineRoleNames(
  project: string,
  stageName: string,
): { smokeTest: string; rollout: string; registryReader: string; traffic: string } {
  return {
    smokeTest: `${project}-${stageName}-smoke-test`,
    rollout: `${project}-${stageName}-rollout`,
    registryReader: registryReaderRoleName(project, stageName),
    traffic: `${project}-${stageName}-rollout-traffic`,
  };
}
