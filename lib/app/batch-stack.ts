import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { acknowledge, Finding } from '../compliance';
import { Analytics } from './batch/analytics';
import { AnalyticsExport } from './batch/analytics-export';
import { BatchScoring } from './batch/batch-scoring';
import { BatchWorkflow } from './batch/batch-workflow';
import { DriftJob } from './batch/drift-job';
import { deadLetterQueue } from './dead-letter-queue';
import { EncryptionKey } from './encryption-key';
import type { ModelArchive } from './model/model-archive';
import type { ModelParameters } from './model/model-parameters';
import type { FunctionLogLevel } from '../stages/stage-config';

/** Properties of {@link BatchStack}. */
export interface BatchStackProps extends StackProps {
  /** Stage name, the drift metric's `Stage` dimension. */
  readonly stageName: string;
  /** The model registry in Parameter Store (the drift job and the batch scorer read it). */
  readonly modelParameters: ModelParameters;
  /** Glue database name (lowercase, digits, underscores), namespaced by project and stage. */
  readonly analyticsDatabaseName: string;
  /** Athena workgroup name, namespaced by project and stage. */
  readonly athenaWorkGroupName: string;
  /** The VPC (isolated subnets with endpoints). */
  readonly vpc: ec2.IVpc;
  /** Subnets jobs and functions run in. */
  readonly subnets: ec2.SubnetSelection;
  /** Batch input bucket. */
  readonly batchBucket: s3.IBucket;
  /** Analytics and Athena results bucket. */
  readonly dataBucket: s3.IBucket;
  /** The scorer's data access (a `BatchDataAccess` policy created in the data stack). */
  readonly dataAccessPolicy: iam.IManagedPolicy;
  /** The analytics exporter's data access (a `PrefixWriteAccess` policy created in the data stack). */
  readonly analyticsExportPolicy: iam.IManagedPolicy;
  /** The exporter's put access to the feedback prefix. @default - feedback is not exported */
  readonly feedbackExportPolicy?: iam.IManagedPolicy;
  /** Key of the buckets and the table. */
  readonly dataKey: kms.IKey;
  /** Predictions table. */
  readonly table: dynamodb.ITable;
  /** The `model.tar.gz` of each version the registry can name active; the batch scorer loads one. */
  readonly modelArchives: readonly ModelArchive[];
  /** Days logs are kept. */
  readonly logRetentionDays: logs.RetentionDays;
  /** Least severe level the stack's functions log (the stage's `logLevel`). @default 'INFO' */
  readonly logLevel?: FunctionLogLevel;
  /** Topic for failed runs. @default - an encrypted topic created here, see {@link BatchStack.alertTopic} */
  readonly alertTopic?: sns.ITopic;
  /** vCPUs per scoring job. @default 1 */
  readonly vcpus?: number;
  /** Memory per scoring job in MiB. @default 2048 */
  readonly memoryMiB?: number;
  /** Most vCPUs of the compute environment. @default 16 */
  readonly maxVcpus?: number;
  /** Most scoring tasks (shards) one run runs at once. @default 4 */
  readonly maxTasks?: number;
  /** Athena per-query scan limit in MiB. @default 1024 */
  readonly athenaBytesScannedCutoffMiB?: number;
  /** Namespace of `DataDrift`. @default 'MlInference' */
  readonly metricNamespace?: string;
}

/**
 * The stateless batch and analytics path of a stage: scheduled Step Functions → AWS Batch on
 * Fargate scoring, the Glue/Athena view of all predictions, and the hourly drift job.
 */
export class BatchStack extends Stack {
  /** Batch compute, queue and job definition. */
  readonly scoring: BatchScoring;
  /** The scheduled workflow. */
  readonly workflow: BatchWorkflow;
  /** Glue table and Athena workgroup. */
  readonly analytics: Analytics;
  /** The drift job and the metric it publishes. */
  readonly drift: DriftJob;
  /** Copies api and stream predictions from the table stream to the analytics prefix. */
  readonly analyticsExport: AnalyticsExport;
  /** Where failed runs are announced (given, or created here). */
  readonly alertTopic: sns.ITopic;

  constructor(scope: Construct, id: string, props: BatchStackProps) {
    super(scope, id, props);

    // This stack's own key for its log groups, queue, topic and workflow data (cfn-guard needs it in-template).
    const key = new EncryptionKey(this, 'Encryption', {
      description: 'Encrypts the logs, schedule dead-letter queue, alerts and workflow data of batch scoring',
    }).key;
    // EventBridge writes undeliverable schedule events to the KMS-encrypted dead-letter queue.
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'EventBridgeDeadLetters',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
    );

    this.alertTopic = props.alertTopic ?? new sns.Topic(this, 'Alerts', { masterKey: key, enforceSSL: true });

    const scheduleDlq = deadLetterQueue(this, 'ScheduleDlq', key);
    acknowledge(
      scheduleDlq,
      [Finding.awsSolutions('SQS3')],
      'This queue is the dead-letter queue of the batch and drift schedules (events EventBridge could not deliver after retries); a dead-letter queue of it would only move the same events.',
    );

    this.scoring = new BatchScoring(this, 'Scoring', {
      vpc: props.vpc,
      subnets: props.subnets,
      batchBucket: props.batchBucket,
      dataBucket: props.dataBucket,
      table: props.table,
      dataAccessPolicy: props.dataAccessPolicy,
      modelParameters: props.modelParameters,
      modelArchives: props.modelArchives,
      logKey: key,
      logRetentionDays: props.logRetentionDays,
      vcpus: props.vcpus,
      memoryMiB: props.memoryMiB,
      maxVcpus: props.maxVcpus,
    });

    this.workflow = new BatchWorkflow(this, 'Workflow', {
      batchBucket: props.batchBucket,
      jobQueue: this.scoring.jobQueue,
      jobDefinition: this.scoring.jobDefinition,
      alertTopic: this.alertTopic,
      encryptionKey: key,
      logRetentionDays: props.logRetentionDays,
      scheduleDeadLetterQueue: scheduleDlq,
      maxTasks: props.maxTasks,
    });

    this.analytics = new Analytics(this, 'Analytics', {
      dataBucket: props.dataBucket,
      dataKey: props.dataKey,
      databaseName: props.analyticsDatabaseName,
      workGroupName: props.athenaWorkGroupName,
      bytesScannedCutoffPerQuery: (props.athenaBytesScannedCutoffMiB ?? 1024) * 1024 * 1024,
    });

    const functionDefaults = {
      vpc: props.vpc,
      subnets: props.subnets,
      encryptionKey: key,
      logRetentionDays: props.logRetentionDays,
      metricNamespace: props.metricNamespace ?? 'MlInference',
      logLevel: props.logLevel,
    };
    this.drift = new DriftJob(this, 'Drift', {
      defaults: functionDefaults,
      stageName: props.stageName,
      table: props.table,
      dataKey: props.dataKey,
      modelParameters: props.modelParameters,
      scheduleDeadLetterQueue: scheduleDlq,
      metricNamespace: props.metricNamespace,
    });

    this.analyticsExport = new AnalyticsExport(this, 'AnalyticsExport', {
      defaults: functionDefaults,
      table: props.table,
      dataBucket: props.dataBucket,
      dataAccessPolicy: props.analyticsExportPolicy,
      feedbackAccessPolicy: props.feedbackExportPolicy,
    });

    new CfnOutput(this, 'BatchStateMachineArn', { value: this.workflow.stateMachine.stateMachineArn });
    new CfnOutput(this, 'AthenaWorkGroup', { value: this.analytics.workGroupName });
    new CfnOutput(this, 'AnalyticsDatabase', { value: this.analytics.databaseName });
  }
}
