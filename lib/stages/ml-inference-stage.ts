import { Stage, Tags, type StageProps } from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledgeCdkProviders, acknowledgeGrantPolicies } from '../compliance';
import { BatchDataAccess } from '../app/batch/batch-data-access';
import { BatchStack } from '../app/batch-stack';
import { DataStack } from '../app/data-stack';
import { InferenceStack } from '../app/inference-stack';
import { DataCaptureAccess } from '../app/model/data-capture-access';
import { DATA_CAPTURE_PREFIX } from '../app/model/model-endpoint';
import { NetworkStack } from '../app/network-stack';
import type { ModelVersion } from '../../services/model/artifacts';
import type { StageConfig } from './stage-config';

/** Properties of {@link MlInferenceStage}. */
export interface MlInferenceStageProps extends StageProps {
  /** Project name, for tags and Parameter Store paths. */
  readonly project: string;
  /** The stage's configuration. */
  readonly config: StageConfig;
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

  constructor(scope: Construct, id: string, props: MlInferenceStageProps) {
    const { config } = props;
    super(scope, id, { ...props, env: { account: config.target.account, region: config.target.region } });

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
    const endpoint = config.endpoint ?? {};
    this.inferenceStack = new InferenceStack(this, 'Inference', {
      description: `ML inference ${config.stageName}: SageMaker A/B endpoint, IAM-authorized API, Kinesis ingestion`,
      modelParameterPrefix: `/${props.project}/${config.stageName}/model`,
      vpc: this.networkStack.network.vpc,
      subnets: this.networkStack.network.subnets,
      table: data.table,
      dataBucket: data.dataBucket,
      dataKey: data.key,
      dataCapturePolicy: new DataCaptureAccess(this.dataStack, 'DataCaptureAccess', {
        bucket: data.dataBucket,
        key: data.key,
        prefix: DATA_CAPTURE_PREFIX,
      }).policy,
      logRetentionDays: config.logRetentionDays as logs.RetentionDays,
      baselineVersion: endpoint.baselineVersion as ModelVersion | undefined,
      candidateVersion: endpoint.candidateVersion as ModelVersion | undefined,
      baselineWeightPercent: endpoint.baselineWeightPercent,
      instanceType: endpoint.instanceType,
      minInstances: endpoint.minInstances,
      maxInstances: endpoint.maxInstances,
      targetInvocationsPerInstance: endpoint.targetInvocationsPerInstance,
      dataCapturePercent: endpoint.dataCapturePercent,
      throttleRateLimit: config.apiThrottle?.rateLimit,
      throttleBurstLimit: config.apiThrottle?.burstLimit,
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
      table: data.table,
      endpoint: this.inferenceStack.endpoint,
      logRetentionDays: config.logRetentionDays as logs.RetentionDays,
      vcpus: config.batch?.vcpus,
      memoryMiB: config.batch?.memoryMiB,
      maxVcpus: config.batch?.maxVcpus,
      athenaBytesScannedCutoffMiB: config.batch?.athenaBytesScannedCutoffMiB,
    });

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
