import { Duration, Stack } from 'aws-cdk-lib';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { allowAlarmNotifications } from './alarm-delivery';
import { DATA_DRIFT_METRIC } from '../../../services/drift/handler';
import { DATA_DRIFT_ALARM_THRESHOLD } from '../../../services/drift/psi';
import { CANARY_ALARM_DEFAULTS } from '../../../services/rollout/canary-alarms';

/** The series the drift job publishes for an alarm (the drift job's own description of it). */
export interface DriftMetricSource {
  /** CloudWatch namespace (the job's `METRIC_NAMESPACE`). */
  readonly namespace: string;
  /** `DataDrift`: max PSI over features. */
  readonly metricName: string;
  /** Dimensions of the series that survives model version changes (`Stage`). */
  readonly dimensions: Readonly<Record<string, string>>;
  /** PSI above which drift is significant. */
  readonly threshold: number;
  /** How often the job publishes a value. */
  readonly period: Duration;
}

/**
 * What the drift job of `services/drift` publishes for a stage: `DataDrift` with the `Stage`
 * dimension alone, alarmed above the significant-drift PSI.
 */
export function driftMetricOf(
  stageName: string,
  namespace: string,
  period = Duration.hours(1),
): DriftMetricSource {
  return {
    namespace,
    metricName: DATA_DRIFT_METRIC,
    dimensions: { Stage: stageName },
    threshold: DATA_DRIFT_ALARM_THRESHOLD,
    period,
  };
}

/** Properties of {@link Monitoring}. */
export interface MonitoringProps {
  /** The drift job's `DataDrift` series and threshold; the drift alarm watches exactly it. */
  readonly drift: DriftMetricSource;
  /** Name of the SageMaker endpoint. */
  readonly endpointName: string;
  /** The endpoint's variants, baseline first; each gets its own dashboard lines. */
  readonly variantNames: readonly string[];
  /** Variant serving the candidate model; the canary alarms watch it. @default 'VariantB' */
  readonly canaryVariant?: string;
  /** Deployed stage of the inference API. */
  readonly apiStage: apigateway.Stage;
  /** The `POST /predict` function. */
  readonly predictFunction: lambda.IFunction;
  /** The ingestion stream. */
  readonly stream: kinesis.IStream;
  /** Dead-letter queue of the stream consumer. */
  readonly deadLetterQueue: sqs.IQueue;
  /** The batch scoring workflow, whose failed executions are graphed. @default - no batch widget */
  readonly batchWorkflow?: sfn.IStateMachine;
  /** Key of the alert topic (the stack's own key; CloudWatch is allowed to use it). */
  readonly encryptionKey: kms.IKey;
  /** Address subscribed to the alert topic. @default - no subscription */
  readonly alarmEmail?: string;
  /** p99 API latency that counts as high. @default Duration.seconds(2) */
  readonly apiLatencyThreshold?: Duration;
  /** Share of API requests answered 5xx that raises the error-rate alarm, in percent. @default 5 */
  readonly apiErrorRatePercent?: number;
  /**
   * Share of canary invocations answered 5xx in a minute that breaches the canary error alarm, in
   * percent. @default CANARY_ALARM_DEFAULTS.errorRatePercent (10)
   */
  readonly canaryErrorRatePercent?: number;
  /** p99 canary model latency in a minute that breaches the canary latency alarm. @default 1 s */
  readonly canaryLatencyThreshold?: Duration;
  /**
   * Canary invocations a minute needs before the canary 5xx alarm judges it; thinner minutes give no
   * datapoint. @default CANARY_ALARM_DEFAULTS.minInvocations (50)
   */
  readonly canaryAlarmMinInvocations?: number;
  /**
   * Canary invocations a minute needs before the canary latency alarm judges it (a p99 of fewer than
   * 100 requests is their maximum). @default CANARY_ALARM_DEFAULTS.latencyMinInvocations (200)
   */
  readonly canaryLatencyAlarmMinInvocations?: number;
}

const SAGEMAKER = 'AWS/SageMaker';
const FIVE_MINUTES = Duration.minutes(5);
const ONE_MINUTE = Duration.minutes(1);

/**
 * The operations layer of a stage: an encrypted, TLS-only SNS alert topic every alarm notifies;
 * alarms on API latency and error rate, on data drift (the metric the drift job publishes) and on
 * the canary variant (its 5xx rate and p99 model latency, which the rollout watches); and one
 * dashboard over the metrics these resources really emit.
 */
export class Monitoring extends Construct {
  /** Every alarm of the stage notifies this topic. */
  readonly alertTopic: sns.Topic;
  /** p99 latency of the inference API. */
  readonly apiLatencyAlarm: cloudwatch.Alarm;
  /** 5xx answers ÷ requests of the inference API. */
  readonly apiErrorRateAlarm: cloudwatch.Alarm;
  /** `DataDrift` (max PSI over features) of this stage above the significant-drift threshold. */
  readonly dataDriftAlarm: cloudwatch.Alarm;
  /** Canary variant: `Invocation5XXErrors` ÷ `Invocations`. */
  readonly canaryErrorRateAlarm: cloudwatch.Alarm;
  /** Canary variant: p99 `ModelLatency`. */
  readonly canaryLatencyAlarm: cloudwatch.Alarm;
  /** Failed executions of the batch workflow. @default - none without a batch workflow */
  readonly batchFailureAlarm?: cloudwatch.Alarm;
  /** The alarms the canary rollout rolls back on. */
  readonly canaryAlarms: cloudwatch.IAlarm[];
  /** The stage's dashboard. */
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const canary = props.canaryVariant ?? 'VariantB';
    if (!props.variantNames.includes(canary)) {
      throw new Error(
        `Monitoring: canaryVariant '${canary}' is not one of the endpoint's variants (${props.variantNames.join(', ')})`,
      );
    }

    this.alertTopic = new sns.Topic(this, 'AlertTopic', {
      masterKey: props.encryptionKey,
      enforceSSL: true,
    });
    allowAlarmNotifications(this.alertTopic, props.encryptionKey);
    if (props.alarmEmail) {
      this.alertTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    }
    const notify = new actions.SnsAction(this.alertTopic);
    const alarm = (alarmId: string, alarmProps: cloudwatch.AlarmProps): cloudwatch.Alarm => {
      const created = new cloudwatch.Alarm(this, alarmId, alarmProps);
      created.addAlarmAction(notify);
      return created;
    };

    // ---- API -----------------------------------------------------------------------------------
    const api = props.apiStage;
    const apiLatency = api.metricLatency({ statistic: 'p99', period: FIVE_MINUTES });
    const apiRequests = api.metricCount({ statistic: 'Sum', period: FIVE_MINUTES });
    const api4xx = api.metricClientError({ statistic: 'Sum', period: FIVE_MINUTES });
    const api5xx = api.metricServerError({ statistic: 'Sum', period: FIVE_MINUTES });
    const apiErrorRate = new cloudwatch.MathExpression({
      expression: '100 * errors / requests',
      usingMetrics: { errors: api5xx, requests: apiRequests },
      label: 'API 5xx rate (%)',
      period: FIVE_MINUTES,
    });
    this.apiLatencyAlarm = alarm('ApiLatencyAlarm', {
      alarmDescription: 'Inference API p99 latency is high',
      metric: apiLatency,
      threshold: (props.apiLatencyThreshold ?? Duration.seconds(2)).toMilliseconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.apiErrorRateAlarm = alarm('ApiErrorRateAlarm', {
      alarmDescription: 'Share of inference API requests answered 5xx is high',
      metric: apiErrorRate,
      threshold: props.apiErrorRatePercent ?? 5,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    // ---- Drift ---------------------------------------------------------------------------------
    // Exactly the series the drift job publishes for an alarm (max PSI, `Stage` dimension alone),
    // so the alarm keeps watching across model-version changes.
    const drift = new cloudwatch.Metric({
      namespace: props.drift.namespace,
      metricName: props.drift.metricName,
      dimensionsMap: { ...props.drift.dimensions },
      statistic: 'Maximum',
      period: props.drift.period,
      label: `${props.drift.metricName} (max PSI)`,
    });
    this.dataDriftAlarm = alarm('DataDriftAlarm', {
      alarmDescription: `Significant data drift: max PSI over features above ${props.drift.threshold}`,
      metric: drift,
      threshold: props.drift.threshold,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // The job publishes nothing when it has too few samples: that is not drift.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    // ---- Endpoint variants ---------------------------------------------------------------------
    const variantMetric = (
      variant: string,
      metricName: string,
      statistic: string,
      period = ONE_MINUTE,
    ): cloudwatch.Metric =>
      new cloudwatch.Metric({
        namespace: SAGEMAKER,
        metricName,
        dimensionsMap: { EndpointName: props.endpointName, VariantName: variant },
        statistic,
        period,
        label: `${variant} ${metricName}`,
      });
    // Both canary alarms are metric math with a minimum-invocations guard: IF(...) without a false
    // branch yields no datapoint for a thin minute, and missing data is not breaching, so a 5 % canary at
    // 1 req/s (3 requests a minute) cannot roll back on one unlucky 5xx. The same rules are modelled by
    // bench/canary.ts (services/rollout/canary-alarms.ts). No canary traffic yields no data: the alarm
    // stays OK and the judge, which requires evidence, decides.
    const minInvocations = props.canaryAlarmMinInvocations ?? CANARY_ALARM_DEFAULTS.minInvocations;
    const latencyMinInvocations =
      props.canaryLatencyAlarmMinInvocations ?? CANARY_ALARM_DEFAULTS.latencyMinInvocations;
    for (const [name, value] of [
      ['canaryAlarmMinInvocations', minInvocations],
      ['canaryLatencyAlarmMinInvocations', latencyMinInvocations],
    ] as const) {
      if (!Number.isInteger(value) || value < 1) {
        throw new Error(`Monitoring: ${name} must be a whole number >= 1, got ${value}`);
      }
    }
    const canaryInvocations = variantMetric(canary, 'Invocations', 'Sum');
    const canaryErrorRate = new cloudwatch.MathExpression({
      expression: `IF(invocations >= ${minInvocations}, 100 * errors / invocations)`,
      usingMetrics: {
        errors: variantMetric(canary, 'Invocation5XXErrors', 'Sum'),
        invocations: canaryInvocations,
      },
      label: `${canary} 5xx rate (%), minutes with >= ${minInvocations} invocations`,
      period: ONE_MINUTE,
    });
    this.canaryErrorRateAlarm = alarm('CanaryErrorRateAlarm', {
      alarmDescription: `${canary} (canary) answers too many invocations with 5xx: roll back`,
      metric: canaryErrorRate,
      threshold: props.canaryErrorRatePercent ?? CANARY_ALARM_DEFAULTS.errorRatePercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: CANARY_ALARM_DEFAULTS.evaluationPeriods,
      datapointsToAlarm: CANARY_ALARM_DEFAULTS.datapointsToAlarm,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const canaryP99 = new cloudwatch.MathExpression({
      expression: `IF(invocations >= ${latencyMinInvocations}, latency)`,
      usingMetrics: { latency: variantMetric(canary, 'ModelLatency', 'p99'), invocations: canaryInvocations },
      label: `${canary} p99 ModelLatency (µs), minutes with >= ${latencyMinInvocations} invocations`,
      period: ONE_MINUTE,
    });
    this.canaryLatencyAlarm = alarm('CanaryLatencyAlarm', {
      alarmDescription: `${canary} (canary) p99 model latency is high: roll back`,
      metric: canaryP99,
      // ModelLatency is reported in microseconds.
      threshold:
        (
          props.canaryLatencyThreshold ?? Duration.millis(CANARY_ALARM_DEFAULTS.latencyP99Ms)
        ).toMilliseconds() * 1000,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: CANARY_ALARM_DEFAULTS.evaluationPeriods,
      datapointsToAlarm: CANARY_ALARM_DEFAULTS.datapointsToAlarm,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.canaryAlarms = [this.canaryErrorRateAlarm, this.canaryLatencyAlarm];

    // ---- Dashboard -----------------------------------------------------------------------------
    const perVariant = (metricName: string, statistic: string): cloudwatch.IMetric[] =>
      props.variantNames.map((variant) => variantMetric(variant, metricName, statistic, FIVE_MINUTES));
    const graph = (
      title: string,
      left: cloudwatch.IMetric[],
      right?: cloudwatch.IMetric[],
    ): cloudwatch.GraphWidget => new cloudwatch.GraphWidget({ title, left, right, width: 8, height: 6 });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(6),
    });
    this.dashboard.addWidgets(
      graph('Endpoint invocations per variant', perVariant('Invocations', 'Sum')),
      graph('Endpoint errors per variant (4xx, 5xx)', [
        ...perVariant('Invocation4XXErrors', 'Sum'),
        ...perVariant('Invocation5XXErrors', 'Sum'),
      ]),
      graph('Model latency per variant (p99, µs)', perVariant('ModelLatency', 'p99')),
    );
    this.dashboard.addWidgets(
      graph(
        'Predict function',
        [props.predictFunction.metricDuration({ statistic: 'p99', period: FIVE_MINUTES })],
        [props.predictFunction.metricErrors({ period: FIVE_MINUTES })],
      ),
      graph('API requests, 4xx and 5xx', [apiRequests, api4xx, api5xx]),
      new cloudwatch.GraphWidget({
        title: 'API latency (p99, ms)',
        left: [apiLatency],
        leftAnnotations: [this.apiLatencyAlarm.toAnnotation()],
        width: 8,
        height: 6,
      }),
    );
    const operations: cloudwatch.IWidget[] = [
      graph('Stream iterator age (ms)', [
        props.stream.metricGetRecordsIteratorAgeMilliseconds({ statistic: 'Maximum', period: FIVE_MINUTES }),
      ]),
      graph('Stream dead-letter queue depth', [
        props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          statistic: 'Maximum',
          period: FIVE_MINUTES,
        }),
      ]),
      new cloudwatch.GraphWidget({
        title: 'Data drift (max PSI over features)',
        left: [drift],
        leftAnnotations: [this.dataDriftAlarm.toAnnotation()],
        width: 8,
        height: 6,
      }),
    ];
    if (props.batchWorkflow) {
      const failed = props.batchWorkflow.metricFailed({ statistic: 'Sum', period: FIVE_MINUTES });
      this.batchFailureAlarm = alarm('BatchFailureAlarm', {
        alarmDescription: 'A batch scoring run failed',
        metric: failed,
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      operations.push(graph('Batch workflow failed executions', [failed]));
    }
    this.dashboard.addWidgets(...operations);
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({
        title: 'Alarms',
        alarms: [
          this.apiLatencyAlarm,
          this.apiErrorRateAlarm,
          this.dataDriftAlarm,
          this.canaryErrorRateAlarm,
          this.canaryLatencyAlarm,
          ...(this.batchFailureAlarm ? [this.batchFailureAlarm] : []),
        ],
        width: 24,
        height: 3,
      }),
    );
  }

  /** Console URL of the dashboard. */
  get dashboardUrl(): string {
    const { region } = Stack.of(this);
    return `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards:name=${this.dashboard.dashboardName}`;
  }
}
