import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { DEFAULT_QUALITY_MARGIN, type QualityMargin } from '../../../services/evaluation/evaluate';
import type { ModelMetadata } from '../../../services/model/metadata';
import { QUALITY_METRICS } from '../../../services/quality/feedback-quality';
import { acknowledge, Finding } from '../../compliance';
import { MODEL_VERSION_INDEX } from '../data/data-store';
import { deadLetterQueue } from '../dead-letter-queue';
import { ServiceFunction, type FunctionDefaults } from '../service-function';

/** Properties of {@link FeedbackQuality}. */
export interface FeedbackQualityProps {
  /** Shared function settings (VPC, log key, retention). */
  readonly defaults: FunctionDefaults;
  /** Stage name, the `Stage` dimension. */
  readonly stageName: string;
  /** Predictions table (queried through `modelVersionIndex`). */
  readonly table: dynamodb.ITable;
  /** Key of the table. */
  readonly dataKey: kms.IKey;
  /** Metadata of the versions the stage serves; each one's `evaluation` sets its alarm's threshold. */
  readonly versions: readonly ModelMetadata[];
  /** How far below its offline figure a version may fall. @default DEFAULT_QUALITY_MARGIN */
  readonly margin?: QualityMargin;
  /** Where the alarms go (the stage's alert topic). */
  readonly alertTopic: sns.ITopic;
  /** Encrypts the schedule's dead-letter queue; EventBridge is allowed to use it for that. */
  readonly encryptionKey: kms.IKey;
  /** Namespace of the metrics. @default 'MlInference' */
  readonly metricNamespace?: string;
  /** How often the job runs. @default Duration.hours(1) */
  readonly interval?: Duration;
  /** Hours back a labelled prediction counts. @default 168 (a week) */
  readonly windowHours?: number;
}

/**
 * Ground truth after release: a scheduled job publishes each served version's accuracy (or MAE)
 * over the predictions users labelled with `POST /predictions/{id}/feedback`, with a one-sided bound,
 * and one alarm per version fires (to the alert topic) when that bound shows the version below its
 * offline evaluation (`metadata.evaluation`) by more than the stage's margin.
 */
export class FeedbackQuality extends Construct {
  /** The job. */
  readonly function: ServiceFunction;
  /** One alarm per served version whose metadata has an offline figure, by version. */
  readonly alarms: Readonly<Record<string, cloudwatch.Alarm>>;

  constructor(scope: Construct, id: string, props: FeedbackQualityProps) {
    super(scope, id);
    const namespace = props.metricNamespace ?? 'MlInference';
    const interval = props.interval ?? Duration.hours(1);
    const margin = { ...DEFAULT_QUALITY_MARGIN, ...props.margin };
    const versions = [...new Map(props.versions.map((m) => [m.version, m])).values()];

    this.function = new ServiceFunction(this, 'Function', {
      defaults: props.defaults,
      component: 'quality',
      entry: 'handler',
      description: 'Publishes accuracy (or MAE) of each served model version over labelled predictions',
      timeout: Duration.minutes(5),
      reservedConcurrentExecutions: 1,
      wildcardResourceReason:
        'cloudwatch:PutMetricData supports none either; it is limited by a cloudwatch:namespace condition to the stage namespace.',
      environment: {
        STAGE_NAME: props.stageName,
        METRIC_NAMESPACE: namespace,
        TABLE_NAME: props.table.tableName,
        MODEL_VERSIONS: versions.map((m) => m.version).join(','),
        QUALITY_WINDOW_HOURS: String(props.windowHours ?? 168),
      },
    });
    iam.Grant.addToPrincipal({
      grantee: this.function,
      actions: ['dynamodb:Query'],
      resourceArns: [`${props.table.tableArn}/index/${MODEL_VERSION_INDEX}`],
    });
    props.dataKey.grant(this.function, 'kms:Decrypt', 'kms:DescribeKey');
    iam.Grant.addToPrincipal({
      grantee: this.function,
      actions: ['cloudwatch:PutMetricData'],
      resourceArns: ['*'],
      conditions: { StringEquals: { 'cloudwatch:namespace': namespace } },
    });

    const dlq = deadLetterQueue(this, 'ScheduleDlq', props.encryptionKey);
    acknowledge(
      dlq,
      [Finding.awsSolutions('SQS3')],
      'This queue is the dead-letter queue of the feedback quality schedule (events EventBridge could not deliver after retries); a dead-letter queue of it would only move the same events.',
    );
    props.encryptionKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'EventBridgeFeedbackQualityDeadLetters',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
    new events.Rule(this, 'Schedule', {
      description: 'Measures served model versions on labelled predictions',
      schedule: events.Schedule.rate(interval),
      targets: [
        new targets.LambdaFunction(this.function, {
          deadLetterQueue: dlq,
          retryAttempts: 2,
          maxEventAge: Duration.hours(1),
        }),
      ],
    });

    const notify = new actions.SnsAction(props.alertTopic);
    const alarms: Record<string, cloudwatch.Alarm> = {};
    for (const metadata of versions) {
      const offline = metadata.evaluation?.metrics;
      const metric = (metricName: string) =>
        new cloudwatch.Metric({
          namespace,
          metricName,
          dimensionsMap: { Stage: props.stageName, ModelVersion: metadata.version },
          statistic: 'Maximum',
          period: interval,
        });
      let alarm: cloudwatch.Alarm | undefined;
      if (metadata.task === 'classification' && offline?.accuracy !== undefined) {
        const threshold = offline.accuracy - margin.accuracy;
        alarm = new cloudwatch.Alarm(this, `Alarm-${metadata.version}`, {
          alarmDescription:
            `${metadata.version} on labelled predictions: accuracy shown below ${threshold.toFixed(4)} ` +
            `(offline ${offline.accuracy} minus the margin ${margin.accuracy}; the upper 95 % bound is below it)`,
          metric: metric(QUALITY_METRICS.accuracyUpper),
          threshold,
          comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
          evaluationPeriods: 1,
          // No labelled predictions: no evidence either way.
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        });
      } else if (metadata.task === 'regression' && offline?.mae !== undefined) {
        const threshold = offline.mae * (1 + margin.relativeMae);
        alarm = new cloudwatch.Alarm(this, `Alarm-${metadata.version}`, {
          alarmDescription:
            `${metadata.version} on labelled predictions: MAE shown above ${threshold.toPrecision(4)} ` +
            `(offline ${offline.mae} plus ${margin.relativeMae * 100} %; the lower 95 % bound is above it)`,
          metric: metric(QUALITY_METRICS.maeLower),
          threshold,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        });
      }
      if (alarm) {
        alarm.addAlarmAction(notify);
        alarms[metadata.version] = alarm;
      }
    }
    this.alarms = alarms;
  }
}
