import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { MlInferenceStage } from '../../lib/stages/ml-inference-stage';
import { templateOnlyContext, testConfig } from '../support/cdk-app';

let dev: MlInferenceStage;
let prod: MlInferenceStage;
let devData: Template;
let prodData: Template;
let network: Template;

beforeAll(() => {
  const app = new App({ context: templateOnlyContext() });
  dev = new MlInferenceStage(app, 'Dev', { project: testConfig.project, config: testConfig.dev });
  prod = new MlInferenceStage(app, 'Prod', { project: testConfig.project, config: testConfig.prod });
  devData = Template.fromStack(dev.dataStack);
  prodData = Template.fromStack(prod.dataStack);
  network = Template.fromStack(dev.networkStack);
});

describe('network', () => {
  it('has only isolated subnets in the configured zones: no NAT, no Internet gateway, no default route', () => {
    network.resourceCountIs('AWS::EC2::NatGateway', 0);
    network.resourceCountIs('AWS::EC2::InternetGateway', 0);
    network.resourceCountIs('AWS::EC2::EgressOnlyInternetGateway', 0);
    const subnets = Object.values(network.findResources('AWS::EC2::Subnet'));
    expect(subnets.map((s) => s.Properties.AvailabilityZone).sort()).toEqual(
      testConfig.dev.availabilityZones,
    );
    expect(subnets.every((s) => s.Properties.MapPublicIpOnLaunch === false)).toBe(true);
    for (const route of Object.values(network.findResources('AWS::EC2::Route'))) {
      expect(route.Properties.DestinationCidrBlock).not.toBe('0.0.0.0/0');
    }
  });

  it('has S3 and DynamoDB gateway endpoints and HTTPS-only interface endpoints', () => {
    const gateways = Object.values(
      network.findResources('AWS::EC2::VPCEndpoint', { Properties: { VpcEndpointType: 'Gateway' } }),
    );
    const services = gateways.map((g) => JSON.stringify(g.Properties.ServiceName));
    expect(services.some((s) => s.includes('.s3'))).toBe(true);
    expect(services.some((s) => s.includes('.dynamodb'))).toBe(true);
    network.hasResourceProperties('AWS::EC2::SecurityGroup', {
      SecurityGroupIngress: [{ CidrIp: '10.40.0.0/16', FromPort: 443, ToPort: 443, IpProtocol: 'tcp' }],
    });
    network.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      VpcEndpointType: 'Interface',
      PrivateDnsEnabled: true,
      ServiceName: 'com.amazonaws.us-east-1.sagemaker.runtime',
    });
  });

  it('logs all traffic to an encrypted log group', () => {
    network.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'ALL', ResourceType: 'VPC' });
    network.hasResourceProperties('AWS::Logs::LogGroup', {
      KmsKeyId: Match.anyValue(),
      RetentionInDays: testConfig.dev.logRetentionDays,
    });
  });
});

describe('data', () => {
  it('stores predictions with TTL, the model-version index, PITR, a stream and the stage key', () => {
    devData.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'predictionId', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'expirationTime', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      StreamSpecification: { StreamViewType: 'NEW_IMAGE' },
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: Match.anyValue() },
      GlobalSecondaryIndexes: [
        {
          IndexName: 'modelVersionIndex',
          KeySchema: [
            { AttributeName: 'modelVersion', KeyType: 'HASH' },
            { AttributeName: 'timestamp', KeyType: 'RANGE' },
          ],
        },
      ],
    });
  });

  it('rotates the key and denies grants to anything but AWS services', () => {
    devData.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 'kms:CreateGrant',
            Condition: {
              BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' },
            },
          }),
        ]),
      },
    });
  });

  it('makes every bucket TLS-only, versioned and private, and all but the log bucket KMS-encrypted', () => {
    const buckets = devData.findResources('AWS::S3::Bucket');
    expect(Object.keys(buckets)).toHaveLength(4);
    const policies = Object.values(devData.findResources('AWS::S3::BucketPolicy'));
    for (const [id, bucket] of Object.entries(buckets)) {
      expect(bucket.Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
      expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      const policy = policies.find((p) => p.Properties.Bucket.Ref === id);
      expect(JSON.stringify(policy?.Properties.PolicyDocument)).toContain('"aws:SecureTransport":"false"');
      const algorithm =
        bucket.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault
          .SSEAlgorithm;
      expect(algorithm).toBe(bucket.Properties.LoggingConfiguration ? 'aws:kms' : 'AES256');
    }
    expect(Object.values(buckets).filter((b) => b.Properties.LoggingConfiguration)).toHaveLength(3);
  });

  it('backs the table up with AWS Backup', () => {
    devData.resourceCountIs('AWS::Backup::BackupPlan', 1);
    devData.hasResourceProperties('AWS::Backup::BackupSelection', {
      BackupSelection: { Resources: Match.arrayWith([Match.objectLike({ 'Fn::GetAtt': Match.anyValue() })]) },
    });
  });

  it('retains stateful resources in prod and removes them in dev', () => {
    for (const type of ['AWS::DynamoDB::Table', 'AWS::S3::Bucket', 'AWS::KMS::Key']) {
      for (const resource of Object.values(prodData.findResources(type))) {
        expect({ type, policy: resource.DeletionPolicy }).toEqual({ type, policy: 'Retain' });
      }
      for (const resource of Object.values(devData.findResources(type))) {
        expect({ type, policy: resource.DeletionPolicy }).toEqual({ type, policy: 'Delete' });
      }
    }
    prodData.hasResourceProperties('AWS::DynamoDB::Table', { DeletionProtectionEnabled: true });
    devData.resourceCountIs('Custom::S3AutoDeleteObjects', 4);
    prodData.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
  });
});

describe('stage', () => {
  it('tags the resources with Project, Environment, ManagedBy and CostCenter', () => {
    const expected = Match.arrayWith([
      { Key: 'CostCenter', Value: testConfig.prod.costCenter },
      { Key: 'Environment', Value: 'prod' },
      { Key: 'ManagedBy', Value: 'cdk-pipelines' },
      { Key: 'Project', Value: testConfig.project },
    ]);
    prodData.hasResourceProperties('AWS::DynamoDB::Table', { Tags: expected });
    prodData.hasResourceProperties('AWS::KMS::Key', { Tags: expected });
    Template.fromStack(prod.networkStack).hasResourceProperties('AWS::EC2::VPC', { Tags: expected });
  });
});

describe('log level (a stage setting)', () => {
  const functionsOf = (stage: MlInferenceStage) =>
    [stage.inferenceStack, stage.batchStack, stage.operationsStack].flatMap((stack) =>
      Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Function')).filter(
        (fn) => fn.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME !== undefined,
      ),
    );

  it.each([
    ['dev', () => dev],
    ['prod', () => prod],
  ] as const)(
    "gives every %s function the stage's level, in Powertools and in Lambda's filter",
    (key, stage) => {
      const level = testConfig[key].logLevel ?? 'INFO';
      const functions = functionsOf(stage());
      expect(functions.length).toBeGreaterThanOrEqual(5);
      for (const fn of functions) {
        expect(fn.Properties.Environment.Variables.POWERTOOLS_LOG_LEVEL).toBe(level);
        expect(fn.Properties.LoggingConfig).toMatchObject({ LogFormat: 'JSON', ApplicationLogLevel: level });
      }
    },
  );

  it('differs between the shipped stages, so it really comes from each stage config', () => {
    expect(testConfig.dev.logLevel).toBe('DEBUG');
    expect(testConfig.prod.logLevel).toBe('INFO');
  });
});
