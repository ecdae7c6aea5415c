import * as path from 'node:path';
import { Duration, IgnoreMode, Size, Stack } from 'aws-cdk-lib';
import * as batch from 'aws-cdk-lib/aws-batch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecrAssets from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge, Finding } from '../../compliance';
import { ANALYTICS_PREFIX } from './batch-data-access';
import type { ModelArchive } from '../model/model-archive';
import type { ModelParameters } from '../model/model-parameters';
import { SERVICES_DIR } from '../service-function';

/**
 * The scorer's entry point, stated in the job definition so the job never depends on an image
 * default to know what to run (the Dockerfile's CMD is the same line, for `docker run`).
 *
 * `--heap-growing-percent=100`: after each full GC, V8 lets the old space grow to twice what is live
 * instead of its adaptive factor of up to four. The scorer's live heap is small and flat (14-20 MB
 * after a full GC at 100,000 and 1,000,000 rows) but rows in flight survive young-generation GCs, so
 * the adaptive factor made the peak depend on how long the job ran: `bench:batch --memory-only`
 * measured 147-195 MiB at 1,000,000 rows against 131-147 at 100,000 without it, 151-158 against
 * 131-136 with it. The price is more full GCs: +8-10% scorer CPU end to end (1.97 s against 1.80 s
 * for 20,000 rows, alternating runs), below what the end-to-end rate shows through the store's noise.
 */
export const SCORER_COMMAND = [
  'node',
  '--heap-growing-percent=100',
  '--enable-source-maps',
  '/app/dist/main.js',
];

/** Properties of {@link BatchScoring}. */
export interface BatchScoringProps {
  /** The VPC (isolated subnets with ECR, Logs and S3 endpoints). */
  readonly vpc: ec2.IVpc;
  /** Subnets the jobs run in. */
  readonly subnets: ec2.SubnetSelection;
  /** Bucket with `pending/` input, `processed/`, `failed/` and `checkpoints/`. */
  readonly batchBucket: s3.IBucket;
  /** Bucket the Glue `predictions` table reads (analytics prefix). */
  readonly dataBucket: s3.IBucket;
  /** Predictions table. */
  readonly table: dynamodb.ITable;
  /** The scorer's access to the buckets, table and data key (a `BatchDataAccess` policy in the data stack). */
  readonly dataAccessPolicy: iam.IManagedPolicy;
  /** The stage's model registry: the scorer reads the active version and its archive's location and SHA-256. */
  readonly modelParameters: ModelParameters;
  /** The `model.tar.gz` of every version the registry can name active; the scorer reads exactly these objects. */
  readonly modelArchives: readonly ModelArchive[];
  /** Key of the job's log group (owned by the calling stack). */
  readonly logKey: kms.IKey;
  /** Days the job logs are kept. */
  readonly logRetentionDays: logs.RetentionDays;
  /** vCPUs per job. @default 1 */
  readonly vcpus?: number;
  /** Memory per job in MiB. @default 2048 */
  readonly memoryMiB?: number;
  /** Most vCPUs the compute environment runs at once. @default 16 */
  readonly maxVcpus?: number;
  /** A job running longer is stopped (and retried). @default Duration.hours(2) */
  readonly jobTimeout?: Duration;
  /** Extra scorer settings (`BATCH_SIZE`, `MAX_OBJECTS`, ...; see services/batch/config.ts). @default - scorer defaults */
  readonly scorerEnvironment?: Record<string, string>;
}

/** Where the job unpacks the model archive: an ephemeral volume, the one writable path of the task. */
export const MODEL_DIR = '/tmp/model';

/**
 * AWS Batch on Fargate running the batch scorer from `services/batch`: an image asset, a compute
 * environment in the isolated subnets whose security group only lets HTTPS out, a job queue and a
 * job definition with an explicit command, a least-privilege job role and retries on failure. The
 * job runs the stage's active model in its own process (ONNX Runtime): its role can read the registry
 * and the model archives, and cannot call the real-time endpoint, which belongs to users and rollouts.
 */
export class BatchScoring extends Construct {
  /** Queue jobs are submitted to. */
  readonly jobQueue: batch.JobQueue;
  /** The scorer job definition. */
  readonly jobDefinition: batch.EcsJobDefinition;
  /** Role the scorer runs as. */
  readonly jobRole: iam.Role;
  /** The job's log group. */
  readonly logGroup: logs.LogGroup;
  /** The tasks' security group. */
  readonly securityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: BatchScoringProps) {
    super(scope, id);

    // Context services/: the image bundles the model server's inference code with the scorer
    // (services/.dockerignore keeps batch/ and model/ only).
    const image = new ecrAssets.DockerImageAsset(this, 'Image', {
      directory: SERVICES_DIR,
      file: path.join('batch', 'Dockerfile'),
      ignoreMode: IgnoreMode.DOCKER,
      // Same architecture as the job's runtime platform below.
      platform: ecrAssets.Platform.LINUX_AMD64,
    });

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'Batch scorer tasks: HTTPS out only',
      allowAllOutbound: false,
    });
    // Isolated subnets route only to the VPC and the S3/DynamoDB gateway endpoints, so HTTPS to any
    // address reaches nothing but the interface endpoints and those two gateways.
    this.securityGroup.addEgressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.tcp(443),
      'HTTPS to interface endpoints and S3/DynamoDB gateway endpoints',
    );

    const computeEnvironment = new batch.FargateComputeEnvironment(this, 'ComputeEnvironment', {
      vpc: props.vpc,
      vpcSubnets: props.subnets,
      securityGroups: [this.securityGroup],
      maxvCpus: props.maxVcpus ?? 16,
      spot: false,
    });
    this.jobQueue = new batch.JobQueue(this, 'Queue', {
      computeEnvironments: [{ computeEnvironment, order: 1 }],
    });

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      encryptionKey: props.logKey,
      retention: props.logRetentionDays,
    });

    this.jobRole = new iam.Role(this, 'JobRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description:
        'Batch scorer: batch input prefixes, analytics prefix, predictions table, model registry and archives',
      managedPolicies: [props.dataAccessPolicy],
    });
    // String parameters: GetParameter needs no key. The archives are CDK file assets: the bootstrap
    // bucket's key (aws/s3 by default) lets any principal of the account decrypt through S3, as it does
    // for the SageMaker models reading the same objects (docs/BATCH.md, "Permissions").
    props.modelParameters.grantRead(this.jobRole);
    this.jobRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [...new Set(props.modelArchives.map((archive) => archive.objectArn))],
      }),
    );

    const container = new batch.EcsFargateContainerDefinition(this, 'Container', {
      image: ecs.ContainerImage.fromDockerImageAsset(image),
      command: SCORER_COMMAND,
      cpu: props.vcpus ?? 1,
      memory: Size.mebibytes(props.memoryMiB ?? 2048),
      jobRole: this.jobRole,
      environment: {
        BATCH_BUCKET: props.batchBucket.bucketName,
        ANALYTICS_BUCKET: props.dataBucket.bucketName,
        ANALYTICS_PREFIX,
        TABLE_NAME: props.table.tableName,
        MODEL_PARAMETER_PREFIX: props.modelParameters.prefix,
        MODEL_DIR,
        AWS_REGION: Stack.of(this).region,
        ...props.scorerEnvironment,
      },
      logging: ecs.LogDriver.awsLogs({ streamPrefix: 'batch-scorer', logGroup: this.logGroup }),
      fargatePlatformVersion: ecs.FargatePlatformVersion.VERSION1_4,
      fargateCpuArchitecture: ecs.CpuArchitecture.X86_64,
      fargateOperatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      assignPublicIp: false,
      readonlyRootFilesystem: true,
      // A volume without a host path is task storage on Fargate; the model is unpacked there.
      volumes: [batch.EcsVolume.host({ name: 'model', containerPath: MODEL_DIR })],
    });
    this.jobDefinition = new batch.EcsJobDefinition(this, 'JobDefinition', {
      container,
      timeout: props.jobTimeout ?? Duration.hours(2),
      retryAttempts: 2,
      retryStrategies: [
        // A crashed run leaves its inputs in pending/ with checkpoints; a rerun resumes them.
        batch.RetryStrategy.of(batch.Action.RETRY, batch.Reason.NON_ZERO_EXIT_CODE),
        batch.RetryStrategy.of(batch.Action.RETRY, batch.Reason.CANNOT_PULL_CONTAINER),
      ],
      propagateTags: true,
    });
    // EcsVolume.host renders `Host: {}`; on Fargate a bind-mount volume is a name alone (AWS Batch
    // documents `host` as not applicable there).
    (this.jobDefinition.node.defaultChild as batch.CfnJobDefinition).addPropertyDeletionOverride(
      'ContainerProperties.Volumes.0.Host',
    );
    acknowledge(
      container.executionRole,
      [Finding.awsSolutions('IAM5[Resource::*]')],
      'ecr:GetAuthorizationToken, which the execution role needs to pull the image, supports no resource-level permissions; the image pull itself is granted on the one asset repository.',
    );
  }
}
