import { Duration, Stack } from 'aws-cdk-lib';
import type * as batch from 'aws-cdk-lib/aws-batch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import { BATCH_PREFIXES } from '../../../services/batch/naming';
import { acknowledge, Finding } from '../../compliance';
import { scopeLogDeliveryToAccount } from '../encryption-key';

/** Properties of {@link BatchWorkflow}. */
export interface BatchWorkflowProps {
  /** Bucket whose `pending/` prefix holds the input. */
  readonly batchBucket: s3.IBucket;
  /** Queue the scoring job goes to. */
  readonly jobQueue: batch.IJobQueue;
  /** The scorer job definition. */
  readonly jobDefinition: batch.IJobDefinition;
  /** Topic told about a failed run. */
  readonly alertTopic: sns.ITopic;
  /** Key of the log group and of the state machine's data (owned by the calling stack). */
  readonly encryptionKey: kms.IKey;
  /** Days execution logs are kept. */
  readonly logRetentionDays: logs.RetentionDays;
  /** Receives schedule events EventBridge could not deliver. */
  readonly scheduleDeadLetterQueue: sqs.IQueue;
  /** How often the workflow runs. @default events.Schedule.rate(Duration.hours(6)) */
  readonly schedule?: events.Schedule;
  /** An execution running longer is stopped. @default Duration.hours(3) */
  readonly timeout?: Duration;
  /**
   * Most scoring tasks (shards) of one run, each an AWS Batch array child with its share of `pending/`
   * (1-1000: one ListObjectsV2 page counts them). @default 4
   */
  readonly maxTasks?: number;
}

/** One ListObjectsV2 page: the most pending objects the workflow counts to size a run. */
export const MAX_TASKS = 1000;

/**
 * The scheduled batch run: count the input under `pending/`, up to `maxTasks` objects; with none,
 * succeed without starting a job; with one, run one scorer task; otherwise run an AWS Batch array job
 * of that many children, each scoring the pending keys of its shard (`SHARD_COUNT`, and the child's
 * `AWS_BATCH_JOB_ARRAY_INDEX`; services/batch/naming.ts `shardOf`), and wait for it (`.sync`). A
 * failed job (after the job definition's own retries of each child) is announced on the alert topic
 * and fails the execution.
 */
export class BatchWorkflow extends Construct {
  /** The workflow. */
  readonly stateMachine: sfn.StateMachine;
  /** The schedule that starts it. */
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: BatchWorkflowProps) {
    super(scope, id);

    const maxTasks = props.maxTasks ?? 4;
    if (!Number.isInteger(maxTasks) || maxTasks < 1 || maxTasks > MAX_TASKS) {
      throw new Error(
        `BatchWorkflow: maxTasks must be a whole number from 1 to ${MAX_TASKS}, got ${maxTasks}`,
      );
    }
    const findPending = new tasks.CallAwsService(this, 'FindPendingInput', {
      service: 's3',
      action: 'listObjectsV2',
      iamAction: 's3:ListBucket',
      iamResources: [props.batchBucket.bucketArn],
      // KeyCount is then min(pending objects, maxTasks): the number of shards of this run.
      parameters: { Bucket: props.batchBucket.bucketName, Prefix: BATCH_PREFIXES.pending, MaxKeys: maxTasks },
      resultSelector: { count: sfn.JsonPath.numberAt('$.KeyCount') },
      resultPath: '$.pending',
    });
    findPending.addRetry({
      errors: ['States.TaskFailed'],
      interval: Duration.seconds(5),
      backoffRate: 2,
      maxAttempts: 3,
    });

    const submit = (id: string, shards: 'one' | 'many'): tasks.BatchSubmitJob =>
      new tasks.BatchSubmitJob(this, id, {
        jobName: 'batch-scoring',
        jobQueueArn: props.jobQueue.jobQueueArn,
        jobDefinitionArn: props.jobDefinition.jobDefinitionArn,
        integrationPattern: sfn.IntegrationPattern.RUN_JOB,
        ...(shards === 'many' ? { arraySize: sfn.JsonPath.numberAt('$.pending.count') } : {}),
        containerOverrides: {
          environment: {
            SHARD_COUNT:
              shards === 'many' ? sfn.JsonPath.format('{}', sfn.JsonPath.stringAt('$.pending.count')) : '1',
          },
        },
        resultSelector: {
          jobId: sfn.JsonPath.stringAt('$.JobId'),
          status: sfn.JsonPath.stringAt('$.Status'),
        },
        resultPath: '$.job',
      });
    // An array job has at least 2 children; one pending object is one plain job.
    const scoreOne = submit('ScorePendingInput', 'one');
    const scoreShards = submit('ScorePendingInputInShards', 'many');

    const notifyFailure = new tasks.SnsPublish(this, 'NotifyFailure', {
      topic: props.alertTopic,
      subject: 'Batch scoring failed',
      message: sfn.TaskInput.fromText(
        sfn.JsonPath.format(
          'Batch scoring run {} failed: {}: {}. Unfinished inputs stay in pending/ for the next run.',
          sfn.JsonPath.executionName,
          sfn.JsonPath.stringAt('$.failure.Error'),
          sfn.JsonPath.stringAt('$.failure.Cause'),
        ),
      ),
      resultPath: sfn.JsonPath.DISCARD,
    });
    notifyFailure.addRetry({ errors: ['States.TaskFailed'], interval: Duration.seconds(2), maxAttempts: 3 });
    const failed = new sfn.Fail(this, 'ScoringFailed', {
      error: 'BatchScoringFailed',
      causePath: '$.failure.Cause',
    });
    const failureChain = notifyFailure.next(failed);
    findPending.addCatch(failureChain, { resultPath: '$.failure' });
    const scored = new sfn.Succeed(this, 'Scored');
    for (const score of [scoreOne, scoreShards]) {
      score.addCatch(failureChain, { resultPath: '$.failure' });
      score.next(scored);
    }

    const definition = findPending.next(
      new sfn.Choice(this, 'HowMuchPendingInput?')
        .when(sfn.Condition.numberGreaterThan('$.pending.count', 1), scoreShards)
        .when(sfn.Condition.numberEquals('$.pending.count', 1), scoreOne)
        .otherwise(new sfn.Succeed(this, 'NothingToScore')),
    );

    const logGroup = new logs.LogGroup(this, 'Logs', {
      encryptionKey: props.encryptionKey,
      retention: props.logRetentionDays,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      tracingEnabled: true,
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      encryptionConfiguration: new sfn.CustomerManagedEncryptionConfiguration(props.encryptionKey),
      timeout: props.timeout ?? Duration.hours(3),
      comment: 'Scores the JSON-lines input under pending/ with the batch scorer on AWS Batch',
    });
    scopeLogDeliveryToAccount(props.encryptionKey);
    props.alertTopic.masterKey?.grant(this.stateMachine, 'kms:Decrypt', 'kms:GenerateDataKey');
    const stack = Stack.of(this);
    // The resource BatchSubmitJob grants SubmitJob on, besides the queue.
    const anyJobDefinition = stack.formatArn({
      service: 'batch',
      resource: 'job-definition',
      resourceName: '*',
    });
    acknowledge(
      this.stateMachine.role,
      [Finding.awsSolutions('IAM5[Resource::*]')],
      'Log delivery (logs:CreateLogDelivery etc.) and X-Ray (PutTraceSegments) actions added by ALL logging and tracing support no resource-level permissions.',
    );
    acknowledge(
      this.stateMachine.role,
      [Finding.awsSolutions(`IAM5[Resource::${flattenCfnReference(stack.resolve(anyJobDefinition))}]`)],
      "CDK's BatchSubmitJob grants batch:SubmitJob on job-definition/* (definition ARNs carry a revision); SubmitJob also needs the queue, which is granted on this one job queue only, so the role can start jobs nowhere else.",
    );

    this.rule = new events.Rule(this, 'Schedule', {
      description: 'Starts batch scoring of pending/ input',
      schedule: props.schedule ?? events.Schedule.rate(Duration.hours(6)),
      targets: [
        new targets.SfnStateMachine(this.stateMachine, {
          deadLetterQueue: props.scheduleDeadLetterQueue,
          retryAttempts: 3,
          maxEventAge: Duration.hours(1),
        }),
      ],
    });
  }
}
