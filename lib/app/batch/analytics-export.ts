import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledge, Finding } from '../../compliance';
import { deadLetterQueue } from '../dead-letter-queue';
import { ServiceFunction, type FunctionDefaults } from '../service-function';
import { ANALYTICS_PREFIX, FEEDBACK_PREFIX } from './batch-data-access';

/** Properties of {@link AnalyticsExport}. */
export interface AnalyticsExportProps {
  /** Shared function settings (VPC, log key, retention); the key also encrypts the failure queue. */
  readonly defaults: FunctionDefaults;
  /** Predictions table; its stream (NEW_IMAGE) is the exporter's input. */
  readonly table: dynamodb.ITable;
  /** Bucket of the analytics prefix the Glue `predictions` table covers. */
  readonly dataBucket: s3.IBucket;
  /** Put access to the analytics prefix and the data key (a `PrefixWriteAccess` policy in the data stack). */
  readonly dataAccessPolicy: iam.IManagedPolicy;
  /** Put access to the feedback prefix (a `PrefixWriteAccess` policy). @default - feedback is not exported */
  readonly feedbackAccessPolicy?: iam.IManagedPolicy;
  /** Records per invocation. @default 100 */
  readonly batchSize?: number;
  /** How long the event source mapping gathers records before invoking. @default Duration.seconds(30) */
  readonly maxBatchingWindow?: Duration;
}

/**
 * Copies predictions made by the API and the stream consumer (source `api` and `stream`) from the
 * predictions table's stream into the analytics prefix as partitioned JSON lines, so the Glue
 * `predictions` table sees every prediction, not only the batch scorer's. Batches that fail every
 * retry are described in an encrypted SQS queue (the stream keeps the records for 24 hours).
 */
export class AnalyticsExport extends Construct {
  /** The exporter function. */
  readonly function: ServiceFunction;
  /** Where the event source mapping sends batches that failed every retry. */
  readonly failureQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: AnalyticsExportProps) {
    super(scope, id);

    this.function = new ServiceFunction(this, 'Function', {
      defaults: props.defaults,
      component: 'analytics-export',
      entry: 'handler',
      description: 'Writes api and stream predictions from the table stream to the analytics prefix',
      timeout: Duration.seconds(60),
      wildcardResourceReason:
        'dynamodb:ListStreams, added by the stream-read grant of the event source, supports none either.',
      environment: {
        ANALYTICS_BUCKET: props.dataBucket.bucketName,
        ANALYTICS_PREFIX,
        FEEDBACK_PREFIX,
      },
    });

    this.function.role!.addManagedPolicy(props.dataAccessPolicy);
    if (props.feedbackAccessPolicy) this.function.role!.addManagedPolicy(props.feedbackAccessPolicy);

    this.failureQueue = deadLetterQueue(this, 'FailureQueue', props.defaults.encryptionKey);
    this.function.addEventSource(
      new sources.DynamoEventSource(props.table, {
        startingPosition: lambda.StartingPosition.LATEST,
        batchSize: props.batchSize ?? 100,
        maxBatchingWindow: props.maxBatchingWindow ?? Duration.seconds(30),
        bisectBatchOnError: true,
        retryAttempts: 3,
        reportBatchItemFailures: true,
        onFailure: new sources.SqsDlq(this.failureQueue),
        // New predictions, and (with a feedback policy) the MODIFY that stores a caller's feedback.
        filters: [
          lambda.FilterCriteria.filter({
            eventName: props.feedbackAccessPolicy
              ? lambda.FilterRule.or('INSERT', 'MODIFY')
              : lambda.FilterRule.isEqual('INSERT'),
          }),
        ],
      }),
    );
    const sendGrant =
      "CDK's grant to send to the KMS-encrypted failure queue (Queue.grantSendMessages, called by the SqsDlq destination); the statement's only resource is this stack's key.";
    acknowledge(this.function.role!, [Finding.awsSolutions('IAM5[Action::kms:GenerateDataKey*]')], sendGrant);
    acknowledge(this.function.role!, [Finding.awsSolutions('IAM5[Action::kms:ReEncrypt*]')], sendGrant);
    acknowledge(
      this.failureQueue,
      [Finding.awsSolutions('SQS3')],
      'This queue is the on-failure destination of the table-stream event source (batches that failed every retry, KMS, 14 days); a dead-letter queue of it would only move the same records.',
    );
  }
}
