import * as path from 'node:path';
import { Duration } from 'aws-cdk-lib';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { modelArtifactDir, type ModelVersion } from '../../../services/model/artifacts';
import { REQUEST_SET_FILE } from '../../../services/traffic/request-set';
import {
  MAX_WINDOW_SECONDS,
  trafficConfigProblems,
  type RolloutTrafficConfig,
} from '../../../services/traffic/config';
import { ServiceFunction, type FunctionDefaults } from '../service-function';

/** Properties of {@link RolloutTraffic}. */
export interface RolloutTrafficProps {
  /** Shared function settings of the stage (the function runs outside the VPC, see below). */
  readonly defaults: FunctionDefaults;
  /** Mode and rate; validated at synth. */
  readonly config: RolloutTrafficConfig;
  /** The inference API; the source may call only its POST /predict. */
  readonly api: apigateway.RestApi;
  /** Endpoint whose organic invocations `top-up` counts. */
  readonly endpointName: string;
  /** Its variants. */
  readonly variantNames: readonly string[];
  /** The candidate version: its held-out split (`models/<version>/requests.json`) is replayed. */
  readonly candidateVersion: ModelVersion;
  /** Folder of the version folders. @default the repository's `models/` */
  readonly modelsDir?: string;
  /**
   * Name of the source's role: the predict function recognises synthetic requests by it (an
   * interface between stacks, namespaced by project and stage like the pipeline roles).
   */
  readonly roleName: string;
}

/**
 * The rollout traffic source: a function that, for each lease the rollout state machine grants
 * (one per bake, {@link MAX_WINDOW_SECONDS} at most), replays the candidate's held-out request set as
 * SigV4-signed `POST /predict` calls at the configured rate, so the API, the predict function and
 * both variants are exercised and the judge sees real per-variant metrics where nobody calls.
 *
 * It cannot run away: nothing schedules it but the state machine, each invocation sends for one
 * window at a capped rate and is never retried or delayed (async retries 0, event age 60 s), its
 * concurrency is capped, its role may only `execute-api:Invoke` POST /predict (and read metrics
 * for `top-up`), and an alarm fires if synthetic predictions arrive while no rollout judges.
 */
export class RolloutTraffic extends Construct {
  /** The source; the state machine invokes it asynchronously with a lease. */
  readonly function: ServiceFunction;
  /** ARN of its role (named, so the predict function can tell synthetic callers without a reference). */
  readonly roleArn: string;
  private readonly metricNamespace: string;

  constructor(scope: Construct, id: string, props: RolloutTrafficProps) {
    super(scope, id);
    const problems = trafficConfigProblems(props.config);
    if (problems.length > 0) {
      throw new Error(`RolloutTraffic: ${problems.join('; ')} (rolloutTraffic in bin/config.ts)`);
    }
    const { config } = props;
    this.metricNamespace = props.defaults.metricNamespace;
    this.function = new ServiceFunction(this, 'Function', {
      defaults: props.defaults,
      component: 'traffic',
      entry: 'handler',
      description: 'Rollout traffic source: replays the held-out request set as signed POST /predict',
      environment: {
        API_URL: props.api.url,
        TRAFFIC_MODE: config.mode,
        TRAFFIC_RATE: String(config.requestsPerSecond),
        ...(config.floorRequestsPerMinute !== undefined
          ? { TRAFFIC_FLOOR: String(config.floorRequestsPerMinute) }
          : {}),
        ...(config.labelledRequestsPerMinute !== undefined
          ? { TRAFFIC_LABELLED: String(config.labelledRequestsPerMinute) }
          : {}),
        ENDPOINT_NAME: props.endpointName,
        VARIANT_NAMES: props.variantNames.join(','),
        METRIC_NAMESPACE: props.defaults.metricNamespace,
      },
      // One window plus the last requests' answers.
      timeout: Duration.seconds(MAX_WINDOW_SECONDS + 30),
      // One lease at a time, plus the next one overlapping the previous window's last answers.
      reservedConcurrentExecutions: 2,
      outsideVpcReason:
        "The traffic source calls the inference API's public regional endpoint with SigV4 exactly as users do; the stage's VPC is isolated (no NAT) and an execute-api interface endpoint would serve only private APIs. It reaches no other network resource.",
      wildcardResourceReason:
        'cloudwatch:GetMetricData (top-up counts organic invocations) supports no resource-level permissions and is read-only; cloudwatch:PutMetricData supports none either and is limited by a cloudwatch:namespace condition to the stage namespace (the labelled-answer counts the judge reads).',
      bundledFiles: {
        [REQUEST_SET_FILE]: path.join(
          modelArtifactDir(props.candidateVersion, props.modelsDir),
          REQUEST_SET_FILE,
        ),
      },
    });
    // A failed or late lease is dropped, never replayed after the rollout moved on or ended.
    this.function.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.seconds(60) });
    const role = this.function.role as iam.Role;
    (role.node.defaultChild as iam.CfnRole).roleName = props.roleName;
    this.roleArn = role.roleArn;
    iam.Grant.addToPrincipal({
      grantee: role,
      actions: ['execute-api:Invoke'],
      resourceArns: [props.api.arnForExecuteApi('POST', '/predict', props.api.deploymentStage.stageName)],
    });
    // Used by `top-up` only, granted in every mode so switching modes is a config change, not an IAM one.
    iam.Grant.addToPrincipal({ grantee: role, actions: ['cloudwatch:GetMetricData'], resourceArns: ['*'] });
    // LabelledAnswers/CorrectAnswers, the judge's accuracy evidence: into the stage namespace only.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': props.defaults.metricNamespace } },
      }),
    );
  }

  /**
   * The alarm that the source runs without a rollout, and the synthetic series on the dashboard.
   * `judge` is the witness of a running rollout: it is invoked every minute while one judges.
   */
  watch(judge: lambda.IFunction, alertTopic: sns.ITopic, dashboard?: cloudwatch.Dashboard): cloudwatch.Alarm {
    const synthetic = new cloudwatch.Metric({
      namespace: this.metricNamespace,
      metricName: 'SyntheticPredictions',
      dimensionsMap: { service: 'predict' },
      statistic: 'Sum',
      period: Duration.minutes(5),
      label: 'Synthetic predictions (traffic source, smoke test)',
    });
    const judged = judge.metricInvocations({ statistic: 'Sum', period: Duration.minutes(5) });
    // Ten minutes of synthetic predictions without a single judge call: no rollout drives it. A
    // rollout's last window (at most a minute) and the smoke test (seconds) cannot fill two periods.
    const alarm = new cloudwatch.MathExpression({
      expression: 'IF(FILL(synthetic, 0) > 0 AND FILL(judged, 0) == 0, 1, 0)',
      usingMetrics: { synthetic, judged },
      period: Duration.minutes(5),
      label: 'Synthetic traffic without a rollout',
    }).createAlarm(this, 'RunawayAlarm', {
      alarmDescription:
        'Synthetic predictions arrive while no canary rollout is being judged: the rollout traffic source (or a copy of its credentials) runs without a rollout. Check the rollout state machine and the traffic function.',
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new cloudwatchActions.SnsAction(alertTopic));

    dashboard?.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Synthetic traffic (rollout traffic source, smoke test) — not users',
        left: [
          synthetic.with({ period: Duration.minutes(1) }),
          new cloudwatch.Metric({
            namespace: this.metricNamespace,
            metricName: 'SyntheticRequestsSent',
            dimensionsMap: { service: 'rollout-traffic' },
            statistic: 'Sum',
            period: Duration.minutes(1),
            label: 'Sent by the traffic source',
          }),
          new cloudwatch.Metric({
            namespace: this.metricNamespace,
            metricName: 'SyntheticRequestsFailed',
            dimensionsMap: { service: 'rollout-traffic' },
            statistic: 'Sum',
            period: Duration.minutes(1),
            label: 'Failed (traffic source)',
          }),
        ],
        width: 12,
      }),
      new cloudwatch.AlarmWidget({
        title: 'Synthetic traffic without a rollout',
        alarm: alarm,
        width: 12,
      }),
    );
    return alarm;
  }
}
