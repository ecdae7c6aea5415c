import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DATA_DRIFT_METRIC } from '../../../services/drift/handler';
import { DATA_DRIFT_ALARM_THRESHOLD } from '../../../services/drift/psi';
import { MODEL_VERSION_INDEX } from '../data/data-store';
import type { ModelParameters } from '../model/model-parameters';
import { ServiceFunction, type FunctionDefaults } from '../service-function';

/** What the drift job publishes, so an alarm watches exactly that metric. */
export interface DriftMetric {
  /** CloudWatch namespace. */
  readonly namespace: string;
  /** `DataDrift`: max PSI over features. */
  readonly metricName: string;
  /** Dimensions of the series an alarm should watch (it survives model version changes). */
  readonly dimensions: Readonly<Record<string, string>>;
  /** PSI above which drift is significant. */
  readonly threshold: number;
  /** How often a value is published. */
  readonly period: Duration;
}

/** Properties of {@link DriftJob}. */
export interface DriftJobProps {
  /** Shared function settings (VPC, log key, retention). */
  readonly defaults: FunctionDefaults;
  /** Stage name, the `Stage` dimension. */
  readonly stageName: string;
  /** Predictions table (queried through `modelVersionIndex`). */
  readonly table: dynamodb.ITable;
  /** Key of the table. */
  readonly dataKey: kms.IKey;
  /** The model registry: the job reads the active version and that version's training bins. */
  readonly modelParameters: ModelParameters;
  /** Receives schedule events EventBridge could not deliver. */
  readonly scheduleDeadLetterQueue: sqs.IQueue;
  /** Namespace of `DataDrift`. @default 'MlInference' */
  readonly metricNamespace?: string;
  /** How often drift is measured. @default Duration.hours(1) */
  readonly interval?: Duration;
  /** Hours of recent predictions compared with the training data. @default 24 */
  readonly windowHours?: number;
}

/**
 * The drift job: an hourly function that compares the active model version's recent inputs with its
 * training statistics (PSI per feature, bins from the Parameter Store registry) and publishes `DataDrift`.
 */
export class DriftJob extends Construct {
  /** The function. */
  readonly function: ServiceFunction;
  /** What it publishes. */
  readonly metric: DriftMetric;

  constructor(scope: Construct, id: string, props: DriftJobProps) {
    super(scope, id);
    const namespace = props.metricNamespace ?? 'MlInference';
    const interval = props.interval ?? Duration.hours(1);

    this.function = new ServiceFunction(this, 'Function', {
      defaults: props.defaults,
      component: 'drift',
      entry: 'handler',
      description: 'Publishes DataDrift: PSI of recent inputs against the active model version',
      timeout: Duration.minutes(2),
      memorySize: 1024,
      reservedConcurrentExecutions: 1,
      wildcardResourceReason:
        'cloudwatch:PutMetricData supports none either; it is limited by a cloudwatch:namespace condition to the drift namespace.',
      environment: {
        STAGE_NAME: props.stageName,
        METRIC_NAMESPACE: namespace,
        TABLE_NAME: props.table.tableName,
        MODEL_PARAMETER_PREFIX: props.modelParameters.prefix,
        DRIFT_WINDOW_HOURS: String(props.windowHours ?? 24),
      },
    });

    iam.Grant.addToPrincipal({
      grantee: this.function,
      actions: ['dynamodb:Query'],
      resourceArns: [`${props.table.tableArn}/index/${MODEL_VERSION_INDEX}`],
    });
    props.dataKey.grant(this.function, 'kms:Decrypt', 'kms:DescribeKey');
    props.modelParameters.grantRead(this.function);
    iam.Grant.addToPrincipal({
      grantee: this.function,
      actions: ['cloudwatch:PutMetricData'],
      resourceArns: ['*'],
      conditions: { StringEquals: { 'cloudwatch:namespace': namespace } },
    });

    new events.Rule(this, 'Schedule', {
      description: 'Measures data drift of the active model version',
      schedule: events.Schedule.rate(interval),
      targets: [
        new targets.LambdaFunction(this.function, {
          deadLetterQueue: props.scheduleDeadLetterQueue,
          retryAttempts: 2,
          maxEventAge: Duration.hours(1),
        }),
      ],
    });

    this.metric = {
      namespace,
      metricName: DATA_DRIFT_METRIC,
      dimensions: { Stage: props.stageName },
      threshold: DATA_DRIFT_ALARM_THRESHOLD,
      period: interval,
    };
  }
}
