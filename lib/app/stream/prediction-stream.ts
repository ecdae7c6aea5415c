import { Duration } from 'aws-cdk-lib';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledge, Finding } from '../../compliance';
import { deadLetterQueue } from '../dead-letter-queue';
import { ServiceFunction, type FunctionDefaults } from '../service-function';

/** Properties of {@link PredictionStream}. */
export interface PredictionStreamProps {
  /** Shared function settings (VPC, log retention, the stack's key). */
  readonly functionDefaults: FunctionDefaults;
  /** Encrypts the stream and the dead-letter queue; must belong to the same stack. */
  readonly encryptionKey: kms.IKey;
  /** Environment of the consumer besides `DLQ_URL` (endpoint, table, parameter prefix). */
  readonly environment: Record<string, string>;
  /** Shards of the stream. @default 1 */
  readonly shardCount?: number;
  /** Records per consumer invocation. @default 100 */
  readonly batchSize?: number;
  /** Longest wait to fill a batch. @default Duration.seconds(5) */
  readonly maxBatchingWindow?: Duration;
}

/**
 * Streaming ingestion: a KMS-encrypted Kinesis stream whose consumer scores records in batches,
 * reports partial batch failures (only failed records are retried, after bisecting the batch) and
 * hands records that still fail after 3 retries to an encrypted SQS dead-letter queue.
 */
export class PredictionStream extends Construct {
  /** The stream producers put feature records on. */
  readonly stream: kinesis.Stream;
  /** The consumer function; the stack grants it the table and the endpoint. */
  readonly consumer: ServiceFunction;
  /** Records that still failed after every retry (as Lambda's on-failure records). */
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: PredictionStreamProps) {
    super(scope, id);

    this.stream = new kinesis.Stream(this, 'Stream', {
      encryption: kinesis.StreamEncryption.KMS,
      encryptionKey: props.encryptionKey,
      shardCount: props.shardCount ?? 1,
    });

    this.deadLetterQueue = deadLetterQueue(this, 'DeadLetterQueue', props.encryptionKey);

    this.consumer = new ServiceFunction(this, 'Consumer', {
      defaults: props.functionDefaults,
      component: 'stream',
      entry: 'consumer-handler',
      description: 'Scores Kinesis prediction records in batches and stores them idempotently',
      timeout: Duration.seconds(60),
      environment: { ...props.environment, DLQ_URL: this.deadLetterQueue.queueUrl },
    });
    this.consumer.addEventSource(
      new sources.KinesisEventSource(this.stream, {
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: props.batchSize ?? 100,
        maxBatchingWindow: props.maxBatchingWindow ?? Duration.seconds(5),
        bisectBatchOnError: true,
        retryAttempts: 3,
        reportBatchItemFailures: true,
        onFailure: new sources.SqsDlq(this.deadLetterQueue),
      }),
    );
    this.deadLetterQueue.grantSendMessages(this.consumer);
    acknowledge(
      this.stream,
      [Finding.awsSolutions('KDS3')],
      "Encrypted with the stack's customer-managed key (rotation on, key policy owned by the stage) rather than the AWS-managed aws/kinesis key, which the stage's NIST/HIPAA controls prefer.",
    );
    acknowledge(
      this.consumer.role ?? this.consumer,
      [
        Finding.awsSolutions('IAM5[Action::kms:GenerateDataKey*]'),
        Finding.awsSolutions('IAM5[Action::kms:ReEncrypt*]'),
      ],
      "CDK's grant to send to the KMS-encrypted dead-letter queue (Queue.grantSendMessages, also used by the SqsDlq destination); the statement's only resource is this stack's key.",
    );
    acknowledge(
      this.deadLetterQueue,
      [Finding.awsSolutions('SQS3')],
      'This queue is the on-failure destination of the Kinesis event source (records that failed every retry, KMS, 14 days); a dead-letter queue of it would only move the same records.',
    );
  }
}
