import { Stage, Tags, type StageProps } from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledgeCdkProviders, acknowledgeGrantPolicies } from '../compliance';
import { DataStack } from '../app/data-stack';
import { NetworkStack } from '../app/network-stack';
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
