import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledge } from '../../compliance';
import { EncryptionKey } from '../encryption-key';

/**
 * AWS services reached from inside the VPC through interface endpoints. Every function, model and
 * batch job runs in isolated subnets with no route to the Internet, so a call to a service missing
 * here would hang until it times out.
 */
export const DEFAULT_INTERFACE_ENDPOINTS: Record<string, ec2.InterfaceVpcEndpointAwsService> = {
  SageMakerRuntime: ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME,
  Ssm: ec2.InterfaceVpcEndpointAwsService.SSM,
  CloudWatch: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
  Logs: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
  XRay: ec2.InterfaceVpcEndpointAwsService.XRAY,
  Sts: ec2.InterfaceVpcEndpointAwsService.STS,
  Sqs: ec2.InterfaceVpcEndpointAwsService.SQS,
  EcrApi: ec2.InterfaceVpcEndpointAwsService.ECR,
  EcrDocker: ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
};

/** Properties of {@link Network}. */
export interface NetworkProps {
  /** Zones of the VPC, fixed so synth never needs an AWS lookup. */
  readonly availabilityZones: string[];
  /** Days the flow logs are kept. */
  readonly logRetentionDays: logs.RetentionDays;
  /** IPv4 range of the VPC. @default '10.40.0.0/16' */
  readonly cidr?: string;
  /** Interface endpoints to create, by construct id. @default DEFAULT_INTERFACE_ENDPOINTS */
  readonly interfaceEndpoints?: Record<string, ec2.InterfaceVpcEndpointAwsService>;
}

/**
 * A VPC with isolated subnets only (no NAT, no Internet gateway), gateway endpoints for S3 and
 * DynamoDB, interface endpoints for every other AWS service the stage calls, and flow logs.
 */
export class Network extends Construct {
  /** The VPC. */
  readonly vpc: ec2.Vpc;
  /** The subnets workloads run in. */
  readonly subnets: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
  /** Interface endpoints by construct id, for tests and for callers that need to depend on one. */
  readonly endpoints: Record<string, ec2.InterfaceVpcEndpoint> = {};
  /** Security group of the interface endpoints (HTTPS from the VPC). */
  readonly endpointSecurityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);

    const cidr = props.cidr ?? '10.40.0.0/16';
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(cidr),
      availabilityZones: props.availabilityZones,
      natGateways: 0,
      subnetConfiguration: [{ name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 22 }],
      restrictDefaultSecurityGroup: true,
      gatewayEndpoints: {
        S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
        DynamoDb: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
      },
    });

    acknowledge(
      this.vpc,
      ['CloudFormation-Validate::W3010'],
      'Zones are fixed in config on purpose, so synth needs no AWS credentials for a lookup; config validation checks they belong to the region.',
    );

    const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', {
      encryptionKey: new EncryptionKey(this, 'FlowLogKey', { description: 'Encrypts the VPC flow logs' }).key,
      retention: props.logRetentionDays,
    });
    this.vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
      trafficType: ec2.FlowLogTrafficType.ALL,
    });

    // One security group for all interface endpoints: HTTPS from inside the VPC only. The range is
    // the literal CIDR (not the VPC's CidrBlock attribute) so compliance rules can read it at synth.
    this.endpointSecurityGroup = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
      vpc: this.vpc,
      description: 'HTTPS from the VPC to AWS service interface endpoints',
      allowAllOutbound: false,
    });
    this.endpointSecurityGroup.addIngressRule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(443), 'HTTPS from the VPC');

    for (const [name, service] of Object.entries(props.interfaceEndpoints ?? DEFAULT_INTERFACE_ENDPOINTS)) {
      this.endpoints[name] = this.vpc.addInterfaceEndpoint(name, {
        service,
        subnets: this.subnets,
        privateDnsEnabled: true,
        securityGroups: [this.endpointSecurityGroup],
        open: false,
      });
    }
  }
}
