import { CfnElement, Duration, Stack, Token } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { createRolloutPolicy, weightsForStep, type RolloutPolicy } from '../../../services/rollout/policy';
import { rejectedArchiveDocument, rejectedArchiveParameter } from '../../../services/registry/rejections';
import type { QualityMetricsSource } from '../../../services/rollout/quality-metrics';
import { MAX_WINDOW_SECONDS, type TrafficMode } from '../../../services/traffic/config';
import { acknowledge, acknowledgeGrantPolicies, Finding } from '../../compliance';
import { ServiceFunction, type FunctionDefaults } from '../service-function';
import { endpointReadback, ENDPOINT_STATUS, validAnswer, weightPath } from './rollout-conditions';

/** Properties of {@link CanaryRollout}. */
export interface CanaryRolloutProps {
  /** Shared function settings of the stage; the judge function is built from them. */
  readonly defaults: FunctionDefaults;
  /** Name of the SageMaker endpoint whose variant weights the rollout shifts. */
  readonly endpointName: string;
  /**
   * ARN of that endpoint, the only endpoint the state machine may change or describe
   * (`CfnEndpoint.ref` is the ARN).
   * @default - built from `endpointName` (SageMaker lower-cases endpoint names in ARNs)
   */
  readonly endpointArn?: string;
  /** Variant serving the current model. @default 'VariantA' */
  readonly baselineVariant?: string;
  /** Variant serving the candidate model. @default 'VariantB' */
  readonly canaryVariant?: string;
  /** Alarms on the canary variant; any of them in ALARM rolls the rollout back at once. */
  readonly canaryAlarms: cloudwatch.IAlarm[];
  /** Topic told about every rollback (and a rollback that could not be completed). */
  readonly alertTopic: sns.ITopic;
  /**
   * Parameter Store path prefix of the stage's model parameters, e.g. `/mlinference/dev/model`.
   * Promotion writes the status in `<prefix>/versions/<candidate>` and `<prefix>/active-version`; a
   * rollback on the judge's verdict writes the status; any other end leaves the registry alone.
   */
  readonly modelParameterPrefix: string;
  /** Model version the canary variant serves; recorded as active (promotion) or rejected (the judge's rollback). */
  readonly candidateVersion: string;
  /**
   * SHA-256 of the candidate's model archive: a rollback also records it as `<prefix>/rejected/<sha256>`,
   * which the registry guard checks every later commit's archives against (services/registry/rejections.ts).
   * @default - the rejection is recorded by version only
   */
  readonly candidateArchiveSha256?: string;
  /** Model version the baseline variant serves; part of the rollout record. */
  readonly baselineVersion: string;
  /**
   * The traffic source ({@link RolloutTraffic}); the state machine grants it a lease of one bake of
   * traffic before the first step and before every bake, so it sends only while a rollout judges.
   * @default - no traffic source (mode `off`)
   */
  readonly trafficSource?: { readonly function: lambda.IFunction; readonly mode: TrafficMode };
  /** Steps, bake, deadline and statistics of the rollout; validated at synth. */
  readonly policy: RolloutPolicy;
  /**
   * Where the traffic source's labelled-answer counts and the predict function's per-class counts are,
   * and the classes to compare: the judge then weighs prediction quality too.
   * @default - errors and latency only
   */
  readonly quality?: QualityMetricsSource;
  /** Key of the state machine's log group. @default - `defaults.encryptionKey` */
  readonly encryptionKey?: kms.IKey;
  /** How long each bake lasts before the judge is asked (again). @default Duration.seconds(60) */
  readonly bakeInterval?: Duration;
  /** How often the endpoint status is polled while a weight change is in progress. @default Duration.seconds(30) */
  readonly pollInterval?: Duration;
  /**
   * How long one weight change may take before the controller gives up on it: a step rolls back, a
   * rollback (twice as long: it may first wait out the step) alerts. @default Duration.minutes(20)
   */
  readonly maxUpdateTime?: Duration;
}

/** How a rollback ends: `evidence` marks the candidate rejected, `failure` leaves the registry alone. */
type RollbackKind = 'evidence' | 'failure' | 'rejected-before';

/** Judge invocation errors that say nothing about the candidate: retried with backoff. */
const JUDGE_TRANSIENT = [
  'Lambda.TooManyRequestsException',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Sandbox.Timedout',
];

/** The candidate has no registry document: nothing was decided. */
const PARAMETER_NOT_FOUND = 'Ssm.ParameterNotFoundException';

/** Registry statuses of a candidate that has not been decided (docs/CONTRACTS.md). */
const UNDECIDED = ['candidate', 'baseline'];

const VARIANT = /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/;

/**
 * Throttling of the SageMaker SDK integration is transient; back off and try again. Step Functions
 * names SDK-integration errors `<Service>.<ExceptionName>`.
 */
const THROTTLED = ['SageMaker.ThrottlingException'];

const PARAMETER_PREFIX = /^(\/[A-Za-z0-9_.-]+)+$/;
const VERSION = /^[A-Za-z0-9_.-]+$/;

/**
 * Canary rollout controller of one stage: a Step Functions state machine that walks the rollout
 * policy's steps with `UpdateEndpointWeightsAndCapacities`, waits for the endpoint to be `InService`
 * after each shift, bakes, and asks the judge function (canary alarms + a sequential statistical
 * comparison of canary against baseline) whether to promote, wait or roll back.
 *
 * Outcomes: promotion ends at canary 100 % (read back from the endpoint) and records it; a rollback
 * restores baseline 100 % (read back), marks the candidate rejected only on the judge's verdict,
 * notifies the alert topic and FAILS the execution, so a pipeline step waiting for it fails too; what
 * cannot be brought back in bounded time alerts and fails. The execution input is ignored
 * (everything is fixed at synth); see docs/ROLLOUT.md for the contract and the invariants.
 */
export class CanaryRollout extends Construct {
  /** The rollout controller; start one execution per candidate deployment. */
  readonly stateMachine: sfn.StateMachine;
  /** The judge function the state machine asks after every bake. */
  readonly judge: ServiceFunction;

  constructor(scope: Construct, id: string, props: CanaryRolloutProps) {
    super(scope, id);
    const policy = createRolloutPolicy(props.policy);
    const baseline = props.baselineVariant ?? 'VariantA';
    const canary = props.canaryVariant ?? 'VariantB';
    const bakeInterval = props.bakeInterval ?? Duration.seconds(60);
    const pollInterval = props.pollInterval ?? Duration.seconds(30);
    const maxUpdateMinutes = (props.maxUpdateTime ?? Duration.minutes(20)).toMinutes();
    const maxPolls = Math.ceil((maxUpdateMinutes * 60) / pollInterval.toSeconds());
    const prefix = props.modelParameterPrefix;
    const candidate = props.candidateVersion;
    if (baseline === canary) {
      throw new Error(
        `CanaryRollout: baselineVariant and canaryVariant are both '${baseline}'; use two variants`,
      );
    }
    for (const variant of [baseline, canary]) {
      if (!VARIANT.test(variant)) {
        throw new Error(
          `CanaryRollout: variant name '${variant}' is not a SageMaker variant name (letters, digits and '-')`,
        );
      }
    }
    if (!Token.isUnresolved(prefix) && !PARAMETER_PREFIX.test(prefix)) {
      throw new Error(
        `CanaryRollout: modelParameterPrefix '${prefix}' must be an SSM path like /mlinference/dev/model (leading slash, no trailing slash)`,
      );
    }
    if (!Token.isUnresolved(candidate) && !VERSION.test(candidate)) {
      throw new Error(
        `CanaryRollout: candidateVersion '${candidate}' must use only letters, digits, '.', '_' and '-' (it is part of a parameter name)`,
      );
    }

    const stack = Stack.of(this);
    const endpointArn =
      props.endpointArn ??
      stack.formatArn({
        service: 'sagemaker',
        resource: 'endpoint',
        resourceName: Token.isUnresolved(props.endpointName)
          ? props.endpointName
          : props.endpointName.toLowerCase(),
      });
    const parameterArn = (name: string): string =>
      stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: name.slice(1) });
    const activeVersionParameter = `${prefix}/active-version`;
    // The candidate's registry document (docs/CONTRACTS.md): JSON {version, featureCount, labels, status}.
    const versionParameter = `${prefix}/versions/${candidate}`;

    // ---- Judge ---------------------------------------------------------------------------------
    this.judge = new ServiceFunction(this, 'Judge', {
      defaults: props.defaults,
      component: 'rollout',
      entry: 'judge-handler',
      description: 'Canary rollout judge: canary alarms and a sequential canary-vs-baseline comparison',
      timeout: Duration.seconds(30),
      reservedConcurrentExecutions: 5,
    });
    if (props.canaryAlarms.length > 0) {
      this.judge.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['cloudwatch:DescribeAlarms'],
          resources: props.canaryAlarms.map((alarm) => alarm.alarmArn),
        }),
      );
    }
    const metricsRead = new iam.Policy(this, 'JudgeMetricsRead', {
      statements: [new iam.PolicyStatement({ actions: ['cloudwatch:GetMetricData'], resources: ['*'] })],
    });
    this.judge.role?.attachInlinePolicy(metricsRead);
    acknowledge(
      metricsRead,
      [Finding.awsSolutions('IAM5[Resource::*]')],
      'cloudwatch:GetMetricData supports no resource-level permissions; the judge reads only the per-variant AWS/SageMaker metrics of its endpoint, and the action is read-only.',
    );

    // ---- Shared pieces -------------------------------------------------------------------------
    const retryThrottled = (task: sfn.TaskStateBase): sfn.TaskStateBase =>
      task.addRetry({
        errors: THROTTLED,
        interval: Duration.seconds(2),
        backoffRate: 2,
        maxAttempts: 6,
        jitterStrategy: sfn.JitterType.FULL,
      });
    const setWeights = (stateId: string, weights: Record<string, number | string>): sfn.TaskStateBase =>
      retryThrottled(
        new tasks.CallAwsService(this, stateId, {
          service: 'sagemaker',
          action: 'updateEndpointWeightsAndCapacities',
          iamAction: 'sagemaker:UpdateEndpointWeightsAndCapacities',
          iamResources: [endpointArn],
          parameters: {
            EndpointName: props.endpointName,
            DesiredWeightsAndCapacities: [baseline, canary].map((variant) => ({
              VariantName: variant,
              DesiredWeight: weights[variant],
            })),
          },
          resultPath: sfn.JsonPath.DISCARD,
        }),
      );
    /** Any other failure of a read, a registry write or an alert may be transient: retried with backoff. */
    const retryFailures = (task: sfn.TaskStateBase, maxAttempts = 4): sfn.TaskStateBase =>
      task.addRetry({
        errors: ['States.ALL'],
        interval: Duration.seconds(2),
        backoffRate: 2,
        maxAttempts,
        jitterStrategy: sfn.JitterType.FULL,
      });
    const putParameter = (stateId: string, name: string, value: string): sfn.TaskStateBase =>
      retryFailures(
        new tasks.CallAwsService(this, stateId, {
          service: 'ssm',
          action: 'putParameter',
          iamAction: 'ssm:PutParameter',
          iamResources: [parameterArn(name)],
          parameters: { Name: name, Value: value, Type: 'String', Overwrite: true },
          resultPath: sfn.JsonPath.DISCARD,
        }),
      );
    /** Reads the candidate's registry document into `$.registry.doc` (no Catch: the caller decides). */
    const readRegistry = (stateId: string): sfn.TaskStateBase => {
      const read = new tasks.CallAwsService(this, stateId, {
        service: 'ssm',
        action: 'getParameter',
        iamAction: 'ssm:GetParameter',
        iamResources: [parameterArn(versionParameter)],
        parameters: { Name: versionParameter },
        resultSelector: { doc: sfn.JsonPath.stringToJson(sfn.JsonPath.stringAt('$.Parameter.Value')) },
        resultPath: '$.registry',
      });
      // A missing document is an answer, not a transient failure: it is not retried.
      read.addRetry({ errors: [PARAMETER_NOT_FOUND], maxAttempts: 0 });
      return retryFailures(read);
    };
    /**
     * Rewrites the candidate's registry document with a new status, keeping its other fields, then goes
     * on to `next`. No document: nothing to record. Any other failure (after the retries) goes to `onError`.
     */
    const recordStatus = (
      stateId: string,
      status: 'active' | 'rejected',
      next: sfn.IChainable,
      onError: sfn.IChainable,
    ): sfn.IChainable => {
      const read = readRegistry(`Read${stateId}`);
      read.addCatch(next, { errors: [PARAMETER_NOT_FOUND], resultPath: '$.registryError' });
      read.addCatch(onError, { resultPath: '$.registryError' });
      // Merge, so every other field of the document (feature statistics the drift job reads) survives.
      const update = new sfn.Pass(this, `Set${stateId}`, {
        parameters: { patch: { status }, doc: sfn.JsonPath.objectAt('$.registry.doc') },
        resultPath: '$.registry',
      }).next(
        new sfn.Pass(this, `Merge${stateId}`, {
          parameters: {
            updated: sfn.JsonPath.jsonMerge(
              sfn.JsonPath.objectAt('$.registry.doc'),
              sfn.JsonPath.objectAt('$.registry.patch'),
            ),
          },
          resultPath: '$.registry',
        }),
      );
      const write = putParameter(
        `Write${stateId}`,
        versionParameter,
        sfn.JsonPath.jsonToString(sfn.JsonPath.objectAt('$.registry.updated')),
      );
      write.addCatch(onError, { resultPath: '$.registryError' });
      read.next(update).next(write).next(next);
      return read;
    };
    /** Publishes to the alert topic (retried), then ends at `end` whether the topic took it or not. */
    const alert = (stateId: string, subject: string, message: string, end: sfn.State): sfn.State => {
      const publish = new tasks.SnsPublish(this, stateId, {
        topic: props.alertTopic,
        subject,
        message: sfn.TaskInput.fromText(message),
        resultPath: sfn.JsonPath.DISCARD,
      });
      retryFailures(publish, 6);
      publish.addCatch(end, { resultPath: '$.alertError' });
      publish.next(end);
      return publish;
    };
    const executionLink = sfn.JsonPath.stringAt('$$.Execution.Id');

    const { readable, servesBaselineOnly, servesCanaryOnly, servesAskedWeights, isUpdating } =
      endpointReadback(baseline, canary);

    /**
     * Applies `apply`, then polls the endpoint every `pollInterval` at most `polls` times (the count is
     * `$.poll.count`, reset on entry only, so re-applying does not restart the bound). Each poll reads
     * DescribeEndpoint into `$.endpoint`; then `applied` → `onApplied`, still
     * updating (or not readable) → poll again, anything else → `onOther`; the bound → `onBound`.
     */
    const applyAndWatch = (args: {
      readonly id: string;
      readonly apply: sfn.TaskStateBase;
      /** Where a failed `apply` goes. @default - poll again (counted against the bound) */
      readonly applyFailed?: sfn.IChainable;
      readonly polls: number;
      readonly applied: sfn.Condition;
      readonly onApplied: sfn.IChainable;
      readonly onOther: sfn.IChainable;
      readonly onBound: sfn.IChainable;
    }): sfn.State => {
      const { id } = args;
      const reset = new sfn.Pass(this, `Start${id}Polls`, {
        result: sfn.Result.fromObject({ count: 0 }),
        resultPath: '$.poll',
      });
      const wait = new sfn.Wait(this, `WaitFor${id}`, { time: sfn.WaitTime.duration(pollInterval) });
      const count = new sfn.Pass(this, `Count${id}Poll`, {
        parameters: { count: sfn.JsonPath.mathAdd(sfn.JsonPath.numberAt('$.poll.count'), 1) },
        resultPath: '$.poll',
      });
      const describe = new tasks.CallAwsService(this, `DescribeEndpointAfter${id}`, {
        service: 'sagemaker',
        action: 'describeEndpoint',
        iamAction: 'sagemaker:DescribeEndpoint',
        iamResources: [endpointArn],
        parameters: { EndpointName: props.endpointName },
        resultPath: '$.endpoint',
      });
      retryThrottled(describe);
      retryFailures(describe, 3);
      // A read that fails after its retries is one poll without an answer, not a reason to act.
      describe.addCatch(wait, { resultPath: '$.describeError' });
      args.apply.addCatch(args.applyFailed ?? wait, { resultPath: '$.failure' });
      reset.next(args.apply);
      args.apply.next(wait);
      wait
        .next(count)
        .next(
          new sfn.Choice(this, `${id}WithinBound?`)
            .when(sfn.Condition.numberGreaterThan('$.poll.count', args.polls), args.onBound)
            .otherwise(describe),
        );
      // A status or weight it cannot read is one poll without an answer.
      describe.next(
        new sfn.Choice(this, `${id}Applied?`)
          .when(sfn.Condition.not(readable), wait)
          .when(args.applied, args.onApplied)
          .when(isUpdating, wait)
          .otherwise(args.onOther),
      );
      return reset;
    };

    // ---- Rollback path -------------------------------------------------------------------------
    // Entered with `$.rollback = {reason, kind}`; kind `evidence` (the judge's rollback verdict) marks the
    // candidate rejected, `failure` (anything that is not evidence against the candidate) leaves the
    // registry as it is, `rejected-before` restores an earlier rejection.
    const rollbackMinutes = Math.round((2 * maxPolls * pollInterval.toSeconds()) / 60);
    const rollbackIncomplete = alert(
      'AlertRollbackIncomplete',
      `Canary rollback FAILED: ${candidate}`,
      sfn.JsonPath.format(
        `Canary rollout of model version ${candidate}: ${baseline} could not be restored to 100 % within ${rollbackMinutes} minutes; the endpoint may still send traffic to the candidate. Fix the endpoint by hand. Rollback reason: {}. Execution: {}`,
        sfn.JsonPath.stringAt('$.rollback.reason'),
        executionLink,
      ),
      new sfn.Fail(this, 'RollbackIncomplete', {
        error: 'CanaryRollbackIncomplete',
        cause: `Could not restore ${baseline} to 100 %: the endpoint may still send traffic to the candidate`,
      }),
    );
    const rolledBack = new sfn.Fail(this, 'RolledBack', {
      error: 'CanaryRolledBack',
      causePath: '$.rollback.reason',
    });
    const notifyRollback = alert(
      'NotifyRollback',
      `Canary rolled back: ${candidate}`,
      sfn.JsonPath.format(
        `Canary rollout of model version ${candidate} rolled back; ${baseline} serves 100 % (read back from the endpoint). Reason: {}`,
        sfn.JsonPath.stringAt('$.rollback.reason'),
      ),
      rolledBack,
    );
    const notifyFailure = alert(
      'NotifyRolloutFailed',
      `Canary rollout failed: ${candidate}`,
      sfn.JsonPath.format(
        `Canary rollout of model version ${candidate} stopped without a verdict on the candidate; ${baseline} serves 100 % (read back from the endpoint) and the candidate keeps its registry status, so the next run tries again. Reason: {}. Execution: {}`,
        sfn.JsonPath.stringAt('$.rollback.reason'),
        executionLink,
      ),
      new sfn.Fail(this, 'RolloutFailed', { error: 'CanaryRolloutFailed', causePath: '$.rollback.reason' }),
    );
    const rejectionUnrecorded = new sfn.Pass(this, 'RejectionNotRecorded', {
      parameters: {
        kind: 'evidence',
        reason: sfn.JsonPath.format(
          '{} (the registry could not record the rejection: {})',
          sfn.JsonPath.stringAt('$.rollback.reason'),
          sfn.JsonPath.stringAt('$.registryError.Error'),
        ),
      },
      resultPath: '$.rollback',
    }).next(notifyRollback);
    // The rejection is also recorded by the archive's content, so the same bytes under a new name are refused.
    const sha256 = props.candidateArchiveSha256;
    let afterRejected: sfn.IChainable = notifyRollback;
    if (sha256) {
      const recordArchive = putParameter(
        'RecordRejectedArchive',
        rejectedArchiveParameter(prefix, sha256),
        rejectedArchiveDocument(candidate, sha256),
      );
      recordArchive.addCatch(rejectionUnrecorded, { resultPath: '$.registryError' }).next(notifyRollback);
      afterRejected = recordArchive;
    }
    const rollbackDone = new sfn.Choice(this, 'RolledBackOn?')
      .when(
        sfn.Condition.stringEquals('$.rollback.kind', 'evidence'),
        recordStatus('RejectedStatus', 'rejected', afterRejected, rejectionUnrecorded),
      )
      .when(
        sfn.Condition.stringEquals('$.rollback.kind', 'rejected-before'),
        new sfn.Fail(this, 'CandidateRejectedBefore', {
          error: 'CanaryRejectedBefore',
          cause: `Model version ${candidate} was rolled back before (${baseline} serves 100 %); commit a new version (or reset its status in config) to try again`,
        }),
      )
      .otherwise(notifyFailure);
    const rollbackWeights = setWeights('RollBackWeights', { [baseline]: 100, [canary]: 0 });
    // Refused while another update runs: the loop waits it out and asks again (below).
    rollbackWeights.addRetry({
      errors: ['States.TaskFailed'],
      interval: Duration.seconds(5),
      maxAttempts: 2,
    });
    const rollback = applyAndWatch({
      id: 'Rollback',
      apply: rollbackWeights,
      polls: 2 * maxPolls,
      applied: servesBaselineOnly,
      onApplied: rollbackDone,
      // Rolled back by SageMaker, Failed, OutOfService, other weights: ask again until the bound.
      onOther: rollbackWeights,
      onBound: rollbackIncomplete,
    });

    const rollbackBecause = (stateId: string, kind: RollbackKind, reason: string): sfn.Pass => {
      const pass = new sfn.Pass(this, stateId, { parameters: { reason, kind }, resultPath: '$.rollback' });
      pass.next(rollback);
      return pass;
    };
    /** "what: Error: Cause" of the Catch output at `errorPath`. */
    const failedStep = (what: string, errorPath = '$.failure'): string =>
      sfn.JsonPath.format(
        `${what}: {}: {}`,
        sfn.JsonPath.stringAt(`${errorPath}.Error`),
        sfn.JsonPath.stringAt(`${errorPath}.Cause`),
      );

    // ---- Traffic source --------------------------------------------------------------------------
    // A lease of one bake of traffic, invoked asynchronously: the source sends for that window only,
    // so it stops at most one window after the last lease, however the execution ends (a Fail, an
    // abort or a timeout skip every Catch, but they grant no further lease either).
    const leaseSeconds = Math.min(MAX_WINDOW_SECONDS, bakeInterval.toSeconds());
    /** A lease state that goes on to `next` whether the lease was granted or not; `next` without a source. */
    const leaseTraffic = (stateId: string, next: sfn.State): sfn.State => {
      // Also in mode `off`: the source then sends its labelled stream alone.
      if (!props.trafficSource) return next;
      const lease = new tasks.LambdaInvoke(this, stateId, {
        lambdaFunction: props.trafficSource.function,
        invocationType: tasks.LambdaInvocationType.EVENT,
        payload: sfn.TaskInput.fromObject({
          windowSeconds: leaseSeconds,
          stepIndex: sfn.JsonPath.numberAt('$.stepIndex'),
          executionId: sfn.JsonPath.stringAt('$$.Execution.Id'),
        }),
        resultPath: sfn.JsonPath.DISCARD,
        retryOnServiceExceptions: true,
      });
      // No traffic is no evidence: the judge waits or reaches its deadline; the rollout goes on.
      lease.addCatch(next, { resultPath: '$.trafficError' });
      lease.next(next);
      return lease;
    };

    // ---- Forward path --------------------------------------------------------------------------
    const first = weightsForStep(policy, 0);
    const start = new sfn.Pass(this, 'StartRollout', {
      parameters: {
        stepIndex: 0,
        weights: { [baseline]: first.baseline, [canary]: first.canary },
        rolloutStartedAt: sfn.JsonPath.stringAt('$$.Execution.StartTime'),
        decisions: [],
      },
    });
    const stepInService = new sfn.Pass(this, 'StepInService', {
      parameters: { startedAt: sfn.JsonPath.stringAt('$$.State.EnteredTime') },
      resultPath: '$.step',
    });
    const applyStep = applyAndWatch({
      id: 'Step',
      apply: setWeights('ApplyStepWeights', {
        [baseline]: sfn.JsonPath.numberAt(weightPath(baseline)),
        [canary]: sfn.JsonPath.numberAt(weightPath(canary)),
      }),
      applyFailed: rollbackBecause('RollbackOnError', 'failure', failedStep('the weight update failed')),
      polls: maxPolls,
      applied: servesAskedWeights,
      onApplied: stepInService,
      // SageMaker rolled the update back (other weights InService), Failed, OutOfService, ...
      onOther: rollbackBecause(
        'RollbackOnEndpointStatus',
        'failure',
        sfn.JsonPath.format(
          'the endpoint is {} and does not serve the weights asked ({}) after a weight shift',
          sfn.JsonPath.stringAt(ENDPOINT_STATUS),
          sfn.JsonPath.jsonToString(sfn.JsonPath.objectAt('$.weights')),
        ),
      ),
      onBound: rollbackBecause(
        'RollbackOnStuckUpdate',
        'failure',
        `the weight shift did not finish within ${maxUpdateMinutes} minutes`,
      ),
    });
    const bake = new sfn.Wait(this, 'Bake', { time: sfn.WaitTime.duration(bakeInterval) });
    const judge = new tasks.LambdaInvoke(this, 'AskJudge', {
      lambdaFunction: this.judge,
      payloadResponseOnly: true,
      payload: sfn.TaskInput.fromObject({
        endpointName: props.endpointName,
        baselineVariant: baseline,
        canaryVariant: canary,
        canaryAlarmNames: props.canaryAlarms.map((alarm) => alarm.alarmName),
        stepIndex: sfn.JsonPath.numberAt('$.stepIndex'),
        stepStartedAt: sfn.JsonPath.stringAt('$.step.startedAt'),
        rolloutStartedAt: sfn.JsonPath.stringAt('$.rolloutStartedAt'),
        policy: JSON.parse(JSON.stringify(policy)) as Record<string, unknown>,
        decisions: sfn.JsonPath.listAt('$.decisions'),
        ...(props.quality
          ? { quality: { namespace: props.quality.namespace, classes: [...props.quality.classes] } }
          : {}),
      }),
      resultPath: '$.judgement',
      retryOnServiceExceptions: false,
    });
    // Throttling (reserved concurrency) and service faults say nothing about the candidate.
    judge.addRetry({
      errors: JUDGE_TRANSIENT,
      interval: Duration.seconds(2),
      backoffRate: 2,
      maxAttempts: 6,
      jitterStrategy: sfn.JitterType.FULL,
    });
    judge.addCatch(rollbackBecause('RollbackOnJudgeError', 'failure', failedStep('the judge failed')), {
      resultPath: '$.failure',
    });
    const nextStep = new sfn.Pass(this, 'NextStep', {
      parameters: {
        stepIndex: sfn.JsonPath.numberAt('$.judgement.nextStepIndex'),
        weights: sfn.JsonPath.objectAt('$.judgement.weights'),
        rolloutStartedAt: sfn.JsonPath.stringAt('$.rolloutStartedAt'),
        decisions: sfn.JsonPath.listAt('$.decisions'),
      },
    });
    // The RolloutRecord of docs/CONTRACTS.md (plus the final weights).
    const record = (outcome: 'promoted' | 'already-promoted', decisions: string[]) => ({
      outcome,
      endpointName: props.endpointName,
      baselineVersion: props.baselineVersion,
      candidateVersion: candidate,
      policy: JSON.parse(JSON.stringify(policy)) as Record<string, unknown>,
      startedAt: sfn.JsonPath.stringAt('$$.Execution.StartTime'),
      finishedAt: sfn.JsonPath.stringAt('$$.State.EnteredTime'),
      decisions,
      traffic: { mode: props.trafficSource?.mode ?? 'off' },
    });
    /** Writes `<prefix>/active-version` (retried); a failure leaves canary 100 % and status active: alert. */
    const recordActiveVersion = (stateId: string, next: sfn.IChainable): sfn.TaskStateBase => {
      const write = putParameter(stateId, activeVersionParameter, candidate);
      write.addCatch(
        alert(
          `Alert${stateId}Failed`,
          `Canary promotion not fully recorded: ${candidate}`,
          sfn.JsonPath.format(
            `Model version ${candidate} serves 100 % and its registry status is active, but ${activeVersionParameter} could not be written; run the rollout step again (it re-applies and re-records the promotion). Execution: {}`,
            executionLink,
          ),
          new sfn.Fail(this, `${stateId}Failed`, {
            error: 'CanaryRecordIncomplete',
            cause: `${activeVersionParameter} could not be written`,
          }),
        ),
        { resultPath: '$.registryError' },
      );
      write.next(next);
      return write;
    };
    const summary = new sfn.Pass(this, 'PromotionSummary', {
      parameters: {
        ...record('promoted', sfn.JsonPath.listAt('$.decisions')),
        weights: sfn.JsonPath.objectAt('$.weights'),
      },
    });
    summary.next(new sfn.Succeed(this, 'Promoted'));
    // Status first: "active" must only ever be said of a candidate at 100 %, and a promotion the
    // registry cannot record is undone rather than left for the next deploy to undo silently.
    const promoted = recordStatus(
      'ActiveStatus',
      'active',
      recordActiveVersion('RecordActiveVersion', summary),
      rollbackBecause(
        'RollbackOnRecordError',
        'failure',
        failedStep('the promotion could not be recorded', '$.registryError'),
      ),
    );

    // A decided candidate is not rolled out again: a redeploy must not silently undo the outcome.
    const registryUnreadable = alert(
      'AlertRegistryUnreadable',
      `Canary rollout not started: ${candidate}`,
      sfn.JsonPath.format(
        `The registry document ${versionParameter} could not be read or holds no known status, so whether model version ${candidate} was decided before is unknown; the endpoint was not touched. Check the parameter and run the rollout step again. Execution: {}`,
        executionLink,
      ),
      new sfn.Fail(this, 'RegistryUnreadable', {
        error: 'CanaryRegistryUnreadable',
        cause: `${versionParameter} could not be read or holds no known status`,
      }),
    );
    const readDecision = readRegistry('ReadCandidateStatus');
    // No document: nothing was decided yet. Any other failure is not an answer.
    readDecision.addCatch(start, { errors: [PARAMETER_NOT_FOUND], resultPath: '$.registryError' });
    readDecision.addCatch(registryUnreadable, { resultPath: '$.registryError' });
    // A deploy that changed the endpoint config re-applied its initial weights: restore the decision.
    const restoreIncomplete = alert(
      'AlertRestoreIncomplete',
      `Canary promotion not restored: ${candidate}`,
      sfn.JsonPath.format(
        `Model version ${candidate} was promoted before, but ${canary} could not be restored to 100 % within ${maxUpdateMinutes * 2} minutes; the endpoint serves other weights than the registry says. Execution: {}`,
        executionLink,
      ),
      new sfn.Fail(this, 'RestoreIncomplete', {
        error: 'CanaryRestoreIncomplete',
        cause: `Could not restore ${canary} to 100 % for the promoted model version ${candidate}`,
      }),
    );
    const restorePromotion = setWeights('RestorePromotedWeights', { [baseline]: 0, [canary]: 100 });
    const alreadyPromoted = applyAndWatch({
      id: 'Restore',
      apply: restorePromotion,
      polls: 2 * maxPolls,
      applied: servesCanaryOnly,
      onApplied: recordActiveVersion(
        'RecordRestoredVersion',
        new sfn.Pass(this, 'AlreadyPromoted', { parameters: record('already-promoted', []) }).next(
          new sfn.Succeed(this, 'NothingToRollOut'),
        ),
      ),
      onOther: restorePromotion,
      onBound: restoreIncomplete,
    });
    const alreadyRejected = new sfn.Pass(this, 'RestoreRejection', {
      parameters: {
        kind: 'rejected-before',
        reason: `model version ${candidate} was rolled back before`,
      },
      resultPath: '$.rollback',
    });
    alreadyRejected.next(rollback);
    const decided = (status: string): sfn.Condition =>
      sfn.Condition.and(
        sfn.Condition.isPresent('$.registry.doc.status'),
        sfn.Condition.stringEquals('$.registry.doc.status', status),
      );
    const definition = readDecision.next(
      new sfn.Choice(this, 'CandidateDecided?')
        .when(decided('rejected'), alreadyRejected)
        .when(decided('active'), alreadyPromoted)
        .when(sfn.Condition.or(...UNDECIDED.map(decided)), start)
        .otherwise(registryUnreadable),
    );
    // Traffic starts before the first step leaves 0 %, so the baseline already has evidence.
    start.next(leaseTraffic('StartTraffic', applyStep));
    // Every bake renews the traffic lease: the source sends while, and only while, the judge judges.
    const renewAndBake = leaseTraffic('RenewTraffic', bake);
    // The weights were read back, so canary 100 here is the endpoint's, not the judge's word.
    stepInService.next(
      new sfn.Choice(this, 'FullyPromoted?')
        .when(sfn.Condition.numberEquals(weightPath(canary), 100), promoted)
        .otherwise(renewAndBake),
    );
    const verdict = new sfn.Choice(this, 'Verdict?')
      .when(
        sfn.Condition.stringEquals('$.judgement.verdict', 'rollback'),
        rollbackBecause('RollbackOnVerdict', 'evidence', sfn.JsonPath.stringAt('$.judgement.reason')),
      )
      .when(sfn.Condition.stringEquals('$.judgement.verdict', 'wait'), renewAndBake)
      .otherwise(nextStep.next(applyStep));
    // The judge's answer carries the decisions so far (docs/CONTRACTS.md); a judge that records none
    // leaves the list as it was.
    const keepDecisions = new sfn.Pass(this, 'KeepDecisions', {
      inputPath: '$.judgement.decisions',
      resultPath: '$.decisions',
    }).next(verdict);
    // Nothing reads the answer before it is checked against the contract and the policy.
    bake
      .next(judge)
      .next(
        new sfn.Choice(this, 'AnswerValid?')
          .when(
            validAnswer(policy, baseline, canary),
            new sfn.Choice(this, 'DecisionsRecorded?')
              .when(sfn.Condition.isPresent('$.judgement.decisions'), keepDecisions)
              .otherwise(verdict),
          )
          .otherwise(
            rollbackBecause(
              'RollbackOnMalformedAnswer',
              'failure',
              'the judge answered outside its contract (see the AskJudge output in the execution history)',
            ),
          ),
      );

    // ---- State machine -------------------------------------------------------------------------
    const logGroup = new logs.LogGroup(this, 'Logs', {
      encryptionKey: props.encryptionKey ?? props.defaults.encryptionKey,
      retention: props.defaults.logRetentionDays,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      tracingEnabled: true,
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      // Never reached by design: the judge turns "wait" into rollback at the deadline and every poll
      // loop is bounded (a step, then a rollback that may first wait out that step, twice the bound).
      timeout: Duration.minutes(policy.deadlineMinutes + 4 * maxUpdateMinutes + 60),
      comment: `Canary rollout of model version ${candidate}`,
    });
    props.alertTopic.masterKey?.grant(this.stateMachine, 'kms:Decrypt', 'kms:GenerateDataKey*');
    acknowledge(
      this.stateMachine.role,
      [Finding.awsSolutions('IAM5[Resource::*]')],
      'Log delivery (logs:CreateLogDelivery etc.) and X-Ray (PutTraceSegments) actions added by ALL logging and tracing support no resource-level permissions.',
    );
    acknowledge(
      this.stateMachine.role,
      [Finding.awsSolutions(`IAM5[Resource::<${this.judgeLogicalId()}.Arn>:*]`)],
      'LambdaInvoke grants the judge function and its versions/aliases (`<arn>:*`); it is this one function, no other.',
    );
    if (props.trafficSource) {
      acknowledge(
        this.stateMachine.role,
        [Finding.awsSolutions(`IAM5[Resource::<${this.logicalIdOf(props.trafficSource.function)}.Arn>:*]`)],
        'LambdaInvoke grants the traffic source function and its versions/aliases (`<arn>:*`); it is this one function, no other.',
      );
    }
    acknowledgeGrantPolicies(this);
  }

  private judgeLogicalId(): string {
    return this.logicalIdOf(this.judge);
  }

  private logicalIdOf(fn: lambda.IFunction): string {
    const stack = Stack.of(fn);
    return stack.resolve(stack.getLogicalId(fn.node.defaultChild as CfnElement)) as string;
  }
}
