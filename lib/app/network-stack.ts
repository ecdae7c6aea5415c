import { Stack, type StackProps } from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { Network } from './network/network';

/** Properties of {@link NetworkStack}. */
export interface NetworkStackProps extends StackProps {
  /** Zones of the VPC. */
  readonly availabilityZones: string[];
  /** Days flow logs are kept. */
  readonly logRetentionDays: logs.RetentionDays;
}

/** The stage's isolated network. */
export class NetworkStack extends Stack {
  /** VPC, endpoints and flow logs. */
  readonly network: Network;
  private readonly zones: string[];

  constructor(scope: Construct, id: string, props: NetworkStackProps) {
    super(scope, id, props);
    this.zones = props.availabilityZones;
    this.network = new Network(this, 'Network', {
      availabilityZones: props.availabilityZones,
      logRetentionDays: props.logRetentionDays,
    });
  }

  /** The configured zones: an environment-specific stack would otherwise look them up in the account. */
  override get availabilityZones(): string[] {
    return this.zones;
  }
}
