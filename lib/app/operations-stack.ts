import { trustPipelineStep } from '../pipeline/step-roles';
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
// cdk-nag's own formatter, so the ids below are exactly the ones its IAM5 rule reports.
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import type { RolloutPolicy } from '../../services/rollout/policy';
import { rolloutClasses } from '../../services/rollout/quality-metrics';
import {
  DEFAULT_LABELLED_REQUESTS_PER_MINUTE,
  type RolloutTrafficConfig,
} from '../../services/traffic/config';
import { acknowledge, acknowledgeGrantPolicies, Finding } from '../compliance';
import { EncryptionKey } from './encryption-key';
import type { ModelEndpoint } from './model/model-endpoint';
import { loadModelMetadata, type ModelVersion } from '../../services/model/artifacts';
import { driftMetricOf, Monitoring, type DriftMetricSource } from './monitoring/monitoring';
import { FeedbackQuality, type FeedbackQualityProps } from './quality/feedback-quality';
import { CanaryRollout } from './rollout/canary-rollout';
import { RolloutTraffic } from './rollout/rollout-traffic';
import type { FunctionDefaults } from './service-function';
import type { FunctionLogLevel } from '../stages/stage-config';

/** Properties of {@link OperationsStack}. */
export interface OperationsStackProps extends StackProps {
  /** Stage name, in role descriptions and the default drift series. */
  readonly stageName: string;
  /** Namespace of the judge's custom metrics. @default 'MlInference' */
  readonly metricNamespace?: string;
  /**
   * The series the stage's drift job publishes; the drift alarm watches exactly it.
   * @default - `DataDrift` {Stage} in `metricNamespace`, hourly, significant-drift threshold
   */
  readonly driftMetric?: DriftMetricSource;
  /** The VPC the rollout judge runs in (isolated subnets with endpoints). */
  readonly vpc: ec2.IVpc;
  /** Subnets of the judge. */
  readonly subnets: ec2.SubnetSelection;
  /** Days the judge's and the state machine's logs are kept. */
  readonly logRetentionDays: logs.RetentionDays;
  /** Least severe level the stack's functions log (the stage's `logLevel`). @default 'INFO' */
  readonly logLevel?: FunctionLogLevel;
  /** The A/B SageMaker endpoint; the rollout may change only this one. */
  readonly endpoint: ModelEndpoint;
  /** Deployed stage of the inference API. */
  readonly api: apigateway.RestApi;
  /** The `POST /predict` function. */
  readonly predictFunction: lambda.IFunction;
  /** The ingestion stream. */
  readonly stream: kinesis.IStream;
  /** Dead-letter queue of the stream consumer. */
  readonly deadLetterQueue: sqs.IQueue;
  /** The batch scoring workflow. @default - no batch failures on the dashboard */
  readonly batchWorkflow?: sfn.IStateMachine;
  /** Parameter Store prefix of the model registry (`/<project>/<stage>/model`). */
  readonly modelParameterPrefix: string;
  /** Model version VariantB serves: the candidate the rollout promotes or rejects. */
  /** Folder of the version folders. @default the repository's `models/` */
  readonly modelsDir?: string;
  readonly candidateVersion: ModelVersion;
  /** Model version VariantA serves: the baseline. */
  readonly baselineVersion: string;
  /** The traffic source the rollout runs while it judges (`off`: none). */
  readonly rolloutTraffic: RolloutTrafficConfig;
  /** Name of the traffic source's role (an interface: the predict function recognises it). */
  readonly trafficRoleName: string;
  /** The stage's rollout policy. */
  readonly rolloutPolicy: RolloutPolicy;
  /** Address subscribed to the alert topic. @default - no subscription */
  readonly alarmEmail?: string;
  /**
   * The feedback quality job and its alarms (to the alert topic): the predictions table, its key,
   * the served versions' metadata and the stage's quality margin.
   * @default - no feedback quality job
   */
  readonly feedbackQuality?: Pick<FeedbackQualityProps, 'table' | 'dataKey' | 'versions' | 'margin'>;
  /** Account whose pipeline runs the smoke test and starts the rollout (trusted by their roles). */
  readonly pipelineAccount: string;
  /** Name of the role the pipeline's smoke test assumes (an interface: the pipeline builds its ARN). */
  readonly smokeTestRoleName: string;
  /** Name of the role the pipeline's rollout step assumes (an interface: the pipeline builds its ARN). */
  readonly rolloutRoleName: string;
  /**
   * Name of the role the pipeline's registry guard (before each deploy) and `npm run converge` assume
   * to read this stage's model registry (an interface: the pipeline builds its ARN).
   */
  readonly registryReaderRoleName: string;
  /**
   * The pipeline step roles (in `pipelineAccount`) that may assume the smoke-test, rollout and
   * registry reader roles.
   * @default - any principal of `pipelineAccount` that IAM there allows (a sandbox: the operator runs them)
   */
  readonly pipelineStepRoleArns?: {
    readonly smokeTest: string;
    readonly rollout: string;
    readonly registryGuard: string;
  };
}

/**
 * Operations of a stage: dashboard, alarms and alert topic ({@link Monitoring}), the canary rollout
 * controller, and the two roles the pipeline account assumes after each deploy: one that may only
 * invoke this API (smoke test) and one that may only start and watch the rollout.
 */
export class OperationsStack extends Stack {
  /** Dashboard, alarms and the alert topic. */
  readonly monitoring: Monitoring;
  /** The canary rollout controller. */
  readonly rollout: CanaryRollout;
  /** The rollout traffic source; undefined when the stage's mode is `off`. */
  readonly traffic?: RolloutTraffic;
  /** Accuracy of served versions on labelled predictions, and its alarms. */
  readonly feedbackQuality?: FeedbackQuality;
  /**
   * Assumed by the pipeline's smoke test: `execute-api:Invoke` on this stage's API and
   * `sagemaker:InvokeEndpoint` on this stage's endpoint (each variant directly), nothing else.
   */
  readonly smokeTestRole: iam.Role;
  /** Assumed by the pipeline's rollout step: start and describe executions of the rollout only. */
  readonly rolloutRole: iam.Role;
  /** Assumed by the registry guard and converge: `ssm:GetParameter` on this stage's registry only. */
  readonly registryReaderRole: iam.Role;
  /** `DashboardUrl` output. */
  readonly dashboardUrlOutput: CfnOutput;
  /** `RolloutStateMachineArn` output. */
  readonly rolloutStateMachineArnOutput: CfnOutput;
  /** `SmokeTestRoleArn` output. */
  readonly smokeTestRoleArnOutput: CfnOutput;
  /** `RolloutRoleArn` output. */
  readonly rolloutRoleArnOutput: CfnOutput;

  constructor(scope: Construct, id: string, props: OperationsStackProps) {
    super(scope, id, props);
    const metricNamespace = props.metricNamespace ?? 'MlInference';

    // This stack's own key for its topic and log groups (cfn-guard needs it in-template).
    const key = new EncryptionKey(this, 'Encryption', {
      description: 'Encrypts the alert topic and the rollout logs of the ML inference stage',
    }).key;

    this.monitoring = new Monitoring(this, 'Monitoring', {
      drift: props.driftMetric ?? driftMetricOf(props.stageName, metricNamespace),
      endpointName: props.endpoint.endpointName,
      variantNames: props.endpoint.variantNames,
      apiStage: props.api.deploymentStage,
      predictFunction: props.predictFunction,
      stream: props.stream,
      deadLetterQueue: props.deadLetterQueue,
      batchWorkflow: props.batchWorkflow,
      encryptionKey: key,
      alarmEmail: props.alarmEmail,
    });

    const defaults: FunctionDefaults = {
      vpc: props.vpc,
      subnets: props.subnets,
      encryptionKey: key,
      logRetentionDays: props.logRetentionDays,
      metricNamespace,
      logLevel: props.logLevel,
    };
    if (props.feedbackQuality) {
      this.feedbackQuality = new FeedbackQuality(this, 'FeedbackQuality', {
        ...props.feedbackQuality,
        defaults,
        stageName: props.stageName,
        alertTopic: this.monitoring.alertTopic,
        encryptionKey: key,
        metricNamespace,
      });
    }
    // The labelled stream runs in every mode: only a stage that turns both off has no source.
    const labelled = props.rolloutTraffic.labelledRequestsPerMinute ?? DEFAULT_LABELLED_REQUESTS_PER_MINUTE;
    if (props.rolloutTraffic.mode !== 'off' || labelled > 0) {
      this.traffic = new RolloutTraffic(this, 'RolloutTraffic', {
        defaults,
        config: props.rolloutTraffic,
        api: props.api,
        endpointName: props.endpoint.endpointName,
        variantNames: props.endpoint.variantNames,
        candidateVersion: props.candidateVersion,
        modelsDir: props.modelsDir,
        roleName: props.trafficRoleName,
      });
    }
    // The predicted classes the judge compares (regression models have none yet: quality not judged).
    const labelsOf = (version: ModelVersion): readonly string[] => {
      const metadata = loadModelMetadata(version, props.modelsDir);
      return metadata.task === 'classification' ? metadata.labels : [];
    };
    const classes = rolloutClasses(labelsOf(props.baselineVersion), labelsOf(props.candidateVersion));
    this.rollout = new CanaryRollout(this, 'Rollout', {
      defaults,
      baselineVersion: props.baselineVersion,
      trafficSource: this.traffic
        ? { function: this.traffic.function, mode: props.rolloutTraffic.mode }
        : undefined,
      endpointName: props.endpoint.endpointName,
      endpointArn: props.endpoint.endpointArn,
      canaryAlarms: this.monitoring.canaryAlarms,
      alertTopic: this.monitoring.alertTopic,
      modelParameterPrefix: props.modelParameterPrefix,
      candidateVersion: props.candidateVersion,
      candidateArchiveSha256: props.endpoint.archives.get(props.candidateVersion)?.sha256,
      policy: props.rolloutPolicy,
      ...(classes.length >= 2 ? { quality: { namespace: metricNamespace, classes } } : {}),
    });
    this.traffic?.watch(this.rollout.judge, this.monitoring.alertTopic, this.monitoring.dashboard);
    acknowledge(
      this.rollout.stateMachine.role,
      [Finding.awsSolutions('IAM5[Action::kms:GenerateDataKey*]')],
      "Publishing the rollback alert to the KMS-encrypted alert topic: kms:GenerateDataKey* as the SNS documentation lists it, on this stack's key only (the statement's resource is that key's ARN).",
    );

    const trusted = (step: 'smokeTest' | 'rollout' | 'registryGuard'): iam.IPrincipal => {
      const stepRole = props.pipelineStepRoleArns?.[step];
      return stepRole
        ? trustPipelineStep(props.pipelineAccount, stepRole)
        : new iam.AccountPrincipal(props.pipelineAccount);
    };
    this.smokeTestRole = new iam.Role(this, 'SmokeTestRole', {
      roleName: props.smokeTestRoleName,
      assumedBy: trusted('smokeTest'),
      description: `Pipeline smoke test of ${props.stageName}: may only invoke this stage's inference API and endpoint`,
    });
    // Each variant directly (TargetVariant), so a candidate at weight 0 is proven before users reach it.
    props.endpoint.grantInvoke(this.smokeTestRole);
    iam.Grant.addToPrincipal({
      grantee: this.smokeTestRole,
      actions: ['execute-api:Invoke'],
      resourceArns: [props.api.arnForExecuteApi()],
    });
    acknowledgeWildcardResources(
      this.smokeTestRole,
      'execute-api:Invoke',
      'Every stage, method and path of this one API: the smoke test calls POST /predict, GET /predictions/{id} and sends malformed requests; no other API is reachable.',
    );

    this.rolloutRole = new iam.Role(this, 'RolloutRole', {
      roleName: props.rolloutRoleName,
      assumedBy: trusted('rollout'),
      description: `Pipeline canary rollout of ${props.stageName}: may only start and watch the rollout state machine`,
    });
    const { stateMachine } = this.rollout;
    stateMachine.grantStartExecution(this.rolloutRole);
    stateMachine.grantExecution(this.rolloutRole, 'states:DescribeExecution');
    acknowledgeWildcardResources(
      this.rolloutRole,
      'states:DescribeExecution',
      'states:DescribeExecution on the executions of this one state machine: execution names are chosen per pipeline run, so they cannot be listed in advance.',
    );

    this.registryReaderRole = new iam.Role(this, 'RegistryReaderRole', {
      roleName: props.registryReaderRoleName,
      // The guard step of the pipeline; `npm run converge` reads with the stage account's credentials.
      assumedBy: trusted('registryGuard'),
      description: `Registry guard and converge of ${props.stageName}: may only read this stage's model registry`,
    });
    const parameterArn = (name: string): string =>
      Stack.of(this).formatArn({
        service: 'ssm',
        resource: 'parameter',
        resourceName: `${props.modelParameterPrefix.replace(/^\//, '')}/${name}`,
      });
    iam.Grant.addToPrincipal({
      grantee: this.registryReaderRole,
      actions: ['ssm:GetParameter'],
      resourceArns: [parameterArn('active-version'), parameterArn('versions/*'), parameterArn('rejected/*')],
    });
    acknowledgeWildcardResources(
      this.registryReaderRole,
      'ssm:GetParameter',
      "The registry documents of every version under this stage's prefix, and the records of rejected model archives (rejected/<sha256>): the guard reads the document of the version a commit proposes, which may not be deployed (and so cannot be named) yet, and the record of each archive's SHA-256, which only the commit knows.",
    );
    acknowledgeGrantPolicies(this);

    this.dashboardUrlOutput = new CfnOutput(this, 'DashboardUrl', { value: this.monitoring.dashboardUrl });
    this.rolloutStateMachineArnOutput = new CfnOutput(this, 'RolloutStateMachineArn', {
      value: stateMachine.stateMachineArn,
    });
    this.smokeTestRoleArnOutput = new CfnOutput(this, 'SmokeTestRoleArn', {
      value: this.smokeTestRole.roleArn,
    });
    this.rolloutRoleArnOutput = new CfnOutput(this, 'RolloutRoleArn', { value: this.rolloutRole.roleArn });
  }
}

interface StatementJson {
  readonly Action?: string | string[];
  readonly Resource?: unknown;
}

/**
 * Acknowledges AwsSolutions-IAM5 for each wildcard resource of the role's statements granting
 * exactly `action`, one finding id each, with the reason; wildcards of any other statement stay open.
 */
function acknowledgeWildcardResources(role: iam.Role, action: string, reason: string): void {
  // A cross-stack reference (the API id) takes its final form only at synthesis, after references
  // are resolved; validation hooks run then, so the id matches the one cdk-nag reports.
  role.node.addValidation({
    validate: () => {
      acknowledgeNow(role, action, reason);
      return [];
    },
  });
}

function acknowledgeNow(role: iam.Role, action: string, reason: string): void {
  const stack = Stack.of(role);
  const policy = role.node.tryFindChild('DefaultPolicy') as iam.Policy | undefined;
  const document = stack.resolve(policy?.document) as { Statement?: StatementJson[] } | undefined;
  for (const statement of document?.Statement ?? []) {
    if (![statement.Action ?? []].flat().every((a) => a === action)) continue;
    for (const resource of [statement.Resource ?? []].flat()) {
      const flat = flattenCfnReference(resource);
      if (flat.includes('*')) acknowledge(role, [Finding.awsSolutions(`IAM5[Resource::${flat}]`)], reason);
    }
  }
}
