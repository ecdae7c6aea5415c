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
import type { QualityMetricsSource } from '../../../services/rollout/quality-metrics';
import { MAX_WINDOW_SECONDS, type TrafficMode } from '../../../services/traffic/config';
import { acknowledge, acknowledgeGrantPolicies, Finding } from '../../compliance';
import { ServiceFunction, type FunctionDefaults } from '../service-function';

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
   * Promotion writes `<prefix>/active-version`; both outcomes write `<prefix>/versions/<candidate>/status`.
   */
  readonly modelParameterPrefix: string;
  /** Model version the canary variant serves; recorded as active (promotion) or rejected (rollback). */
  readonly candidateVersion: string;
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
}

/** Endpoint statuses during which a weight change is still being applied: keep polling. */
const UPDATING_STATUSES = ['Updating', 'SystemUpdating', 'Creating', 'RollingBack'];

/**
 * Throttling of the SageMaker SDK integration is transient; back off and try again. Step Functions
 * names SDK-integration errors `<Service>.<ExceptionName>`.
 */
const THROTTLED = ['SageMaker.ThrottlingException'];

const PARAMETER_PREFIX = /^(\/[A-Za-z0-9_.-]+)+$/;
const VERSION = /^[A-Za-z0-9_.-]+$/;

/** JSONPath to a variant's weight in the state (bracket notation for names that are not identifiers). */
function weightPath(variant: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(variant) ? `$.weights.${variant}` : `$.weights['${variant}']`;
}

/**
 * Canary rollout controller of one stage: a Step Functions state machine that walks the rollout
 * policy's steps with `UpdateEndpointWeightsAndCapacities`, waits for the endpoint to be `InService`
 * after each shift, bakes, and asks the judge function (canary alarms + a sequential statistical
 * comparison of canary against baseline) whether to promote, wait or roll back.
 *
 * Outcomes: promotion ends at canary 100 % and writes `<prefix>/active-version`; rollback restores
 * baseline 100 % / canary 0 %, marks the candidate rejected, notifies the alert topic and FAILS the
 * execution, so a pipeline step waiting for it fails too. The execution input is ignored
 * (everything is fixed at synth); see docs/ROLLOUT.md for the input/output contract.
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
    const prefix = props.modelParameterPrefix;
    const candidate = props.candidateVersion;
    if (baseline === canary) {
      throw new Error(
        `CanaryRollout: baselineVariant and canaryVariant are both '${baseline}'; use two variants`,
      );
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
    const setWeights = (stateId: string, weights: Record<string, number | string>): tasks.CallAwsService => {
      const task = new tasks.CallAwsService(this, stateId, {
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
      });
      task.addRetry({
        errors: THROTTLED,
        interval: Duration.seconds(2),
        backoffRate: 2,
        maxAttempts: 6,
        jitterStrategy: sfn.JitterType.FULL,
      });
      return task;
    };
    const describeEndpoint = (stateId: string): sfn.TaskStateBase =>
      new tasks.CallAwsService(this, stateId, {
        service: 'sagemaker',
        action: 'describeEndpoint',
        iamAction: 'sagemaker:DescribeEndpoint',
        iamResources: [endpointArn],
        parameters: { EndpointName: props.endpointName },
        resultSelector: { status: sfn.JsonPath.stringAt('$.EndpointStatus') },
        resultPath: '$.endpoint',
      }).addRetry({ errors: THROTTLED, interval: Duration.seconds(2), backoffRate: 2, maxAttempts: 6 });
    const putParameter = (stateId: string, name: string, value: string): sfn.TaskStateBase =>
      new tasks.CallAwsService(this, stateId, {
        service: 'ssm',
        action: 'putParameter',
        iamAction: 'ssm:PutParameter',
        iamResources: [parameterArn(name)],
        parameters: { Name: name, Value: value, Type: 'String', Overwrite: true },
        resultPath: sfn.JsonPath.DISCARD,
      }).addRetry({
        errors: ['States.TaskFailed'],
        interval: Duration.seconds(2),
        backoffRate: 2,
        maxAttempts: 4,
      });
    /** Reads the candidate's registry document into `$.registry.doc`; a failure goes to `onError`. */
    const readRegistry = (stateId: string, onError: sfn.IChainable, maxAttempts = 4): sfn.TaskStateBase => {
      const read = new tasks.CallAwsService(this, stateId, {
        service: 'ssm',
        action: 'getParameter',
        iamAction: 'ssm:GetParameter',
        iamResources: [parameterArn(versionParameter)],
        parameters: { Name: versionParameter },
        resultSelector: { doc: sfn.JsonPath.stringToJson(sfn.JsonPath.stringAt('$.Parameter.Value')) },
        resultPath: '$.registry',
      });
      read.addRetry({
        errors: ['States.TaskFailed'],
        interval: Duration.seconds(2),
        backoffRate: 2,
        maxAttempts,
      });
      read.addCatch(onError, { resultPath: '$.registryError' });
      return read;
    };
    /** Rewrites the candidate's registry document with a new status, keeping its other fields. */
    const recordStatus = (
      stateId: string,
      status: 'active' | 'rejected',
      next: sfn.State,
    ): sfn.IChainable => {
      // A missing or unreadable document must not stop the outcome (notification, Fail/Succeed).
      const read = readRegistry(`Read${stateId}`, next);
      // Merge, so every other field of the document (feature statistics the drift job reads) survives.
      const update = new sfn.Pass(this, `Set${stateId}`, {
        parameters: {
          patch: { status },
          doc: sfn.JsonPath.objectAt('$.registry.doc'),
        },
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
      write.addCatch(next, { resultPath: '$.registryError' });
      return read.next(update).next(write).next(next);
    };
    const isUpdating = sfn.Condition.or(
      ...UPDATING_STATUSES.map((status) => sfn.Condition.stringEquals('$.endpoint.status', status)),
    );

    // ---- Rollback path -------------------------------------------------------------------------
    const rollbackWeights = setWeights('RollBackWeights', { [baseline]: 100, [canary]: 0 });
    rollbackWeights.addRetry({
      errors: ['States.TaskFailed'],
      interval: Duration.seconds(5),
      maxAttempts: 3,
    });
    const rollbackIncomplete = new tasks.SnsPublish(this, 'AlertRollbackIncomplete', {
      topic: props.alertTopic,
      subject: `Canary rollback FAILED: ${candidate}`,
      message: sfn.TaskInput.fromText(sfn.JsonPath.jsonToString(sfn.JsonPath.objectAt('$'))),
      resultPath: sfn.JsonPath.DISCARD,
    }).next(
      new sfn.Fail(this, 'RollbackIncomplete', {
        error: 'CanaryRollbackIncomplete',
        cause: `Could not restore ${baseline} to 100 %: the endpoint may still send traffic to the rejected candidate`,
      }),
    );
    rollbackWeights.addCatch(rollbackIncomplete, { resultPath: '$.failure' });

    const waitForRollback = new sfn.Wait(this, 'WaitForRollback', {
      time: sfn.WaitTime.duration(pollInterval),
    });
    const notifyRollback = new tasks.SnsPublish(this, 'NotifyRollback', {
      topic: props.alertTopic,
      subject: `Canary rolled back: ${candidate}`,
      message: sfn.TaskInput.fromText(
        sfn.JsonPath.format(
          `Canary rollout of model version ${candidate} rolled back; ${baseline} serves 100 %. Reason: {}`,
          sfn.JsonPath.stringAt('$.rollback.reason'),
        ),
      ),
      resultPath: sfn.JsonPath.DISCARD,
    });
    notifyRollback.addRetry({ errors: ['States.TaskFailed'], interval: Duration.seconds(2), maxAttempts: 3 });
    const rolledBack = new sfn.Fail(this, 'RolledBack', {
      error: 'CanaryRolledBack',
      causePath: '$.rollback.reason',
    });
    rollbackWeights.next(waitForRollback);
    waitForRollback
      .next(describeEndpoint('DescribeEndpointAfterRollback'))
      .next(
        new sfn.Choice(this, 'RollbackInService?')
          .when(isUpdating, waitForRollback)
          .otherwise(recordStatus('RejectedStatus', 'rejected', notifyRollback)),
      );
    notifyRollback.next(rolledBack);

    const rollbackBecause = (stateId: string, reason: string): sfn.Pass => {
      const pass = new sfn.Pass(this, stateId, {
        parameters: { reason },
        resultPath: '$.rollback',
      });
      pass.next(rollbackWeights);
      return pass;
    };
    const rollbackOnVerdict = rollbackBecause(
      'RollbackOnVerdict',
      sfn.JsonPath.stringAt('$.judgement.reason'),
    );
    const rollbackOnError = rollbackBecause(
      'RollbackOnError',
      sfn.JsonPath.format(
        'rollout step failed: {}: {}',
        sfn.JsonPath.stringAt('$.failure.Error'),
        sfn.JsonPath.stringAt('$.failure.Cause'),
      ),
    );
    const rollbackOnEndpoint = rollbackBecause(
      'RollbackOnEndpointStatus',
      sfn.JsonPath.format(
        'endpoint status {} after a weight shift',
        sfn.JsonPath.stringAt('$.endpoint.status'),
      ),
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

    const rollbackOnUnknownVerdict = new sfn.Pass(this, 'RollbackOnUnknownVerdict', {
      parameters: { reason: 'the judge answered no known verdict' },
      resultPath: '$.rollback',
    }).next(rollbackWeights);

    // ---- Forward path --------------------------------------------------------------------------
    const first = weightsForStep(policy, 0);
    const start = new sfn.Pass(this, 'StartRollout', {
      parameters: {
        stepIndex: 0,
        weights: { [baseline]: first.baseline, [canary]: first.canary },
        complete: first.canary === 100,
        rolloutStartedAt: sfn.JsonPath.stringAt('$$.Execution.StartTime'),
        decisions: [],
      },
    });
    const applyStep = setWeights('ApplyStepWeights', {
      [baseline]: sfn.JsonPath.numberAt(weightPath(baseline)),
      [canary]: sfn.JsonPath.numberAt(weightPath(canary)),
    });
    applyStep.addCatch(rollbackOnError, { resultPath: '$.failure' });
    const waitForStep = new sfn.Wait(this, 'WaitForStep', { time: sfn.WaitTime.duration(pollInterval) });
    const describeAfterStep = describeEndpoint('DescribeEndpointAfterStep');
    describeAfterStep.addCatch(rollbackOnError, { resultPath: '$.failure' });
    const stepInService = new sfn.Pass(this, 'StepInService', {
      parameters: { startedAt: sfn.JsonPath.stringAt('$$.State.EnteredTime') },
      resultPath: '$.step',
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
      retryOnServiceExceptions: true,
    });
    judge.addCatch(rollbackOnError, { resultPath: '$.failure' });
    const nextStep = new sfn.Pass(this, 'NextStep', {
      parameters: {
        stepIndex: sfn.JsonPath.numberAt('$.judgement.nextStepIndex'),
        weights: sfn.JsonPath.objectAt('$.judgement.weights'),
        complete: sfn.JsonPath.objectAt('$.judgement.done'),
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
    const summary = new sfn.Pass(this, 'PromotionSummary', {
      parameters: {
        ...record('promoted', sfn.JsonPath.listAt('$.decisions')),
        weights: sfn.JsonPath.objectAt('$.weights'),
      },
    });
    summary.next(new sfn.Succeed(this, 'Promoted'));
    const promoted = putParameter('RecordActiveVersion', activeVersionParameter, candidate).next(
      recordStatus('ActiveStatus', 'active', summary),
    );

    // A decided candidate is not rolled out again: a redeploy must not silently undo the outcome.
    // No registry document: nothing was decided yet.
    const readDecision = readRegistry('ReadCandidateStatus', start, 3);
    // A deploy that changed the endpoint config re-applied its initial weights: restore the decision.
    const alreadyPromoted = setWeights('RestorePromotedWeights', { [baseline]: 0, [canary]: 100 }).next(
      new sfn.Pass(this, 'AlreadyPromoted', { parameters: record('already-promoted', []) }).next(
        new sfn.Succeed(this, 'NothingToRollOut'),
      ),
    );
    const alreadyRejected = setWeights('RestoreBaselineWeights', { [baseline]: 100, [canary]: 0 }).next(
      new sfn.Fail(this, 'CandidateRejectedBefore', {
        error: 'CanaryRejectedBefore',
        cause: `Model version ${candidate} was rolled back before (${baseline} serves 100 %); commit a new version (or reset its status in config) to try again`,
      }),
    );
    const decided = (status: string): sfn.Condition =>
      sfn.Condition.and(
        sfn.Condition.isPresent('$.registry.doc.status'),
        sfn.Condition.stringEquals('$.registry.doc.status', status),
      );
    const definition = readDecision.next(
      new sfn.Choice(this, 'CandidateDecided?')
        .when(decided('rejected'), alreadyRejected)
        .when(decided('active'), alreadyPromoted)
        .otherwise(start),
    );
    // Traffic starts before the first step leaves 0 %, so the baseline already has evidence.
    start.next(leaseTraffic('StartTraffic', applyStep));
    applyStep
      .next(waitForStep)
      .next(describeAfterStep)
      .next(
        new sfn.Choice(this, 'StepInService?')
          .when(sfn.Condition.stringEquals('$.endpoint.status', 'InService'), stepInService)
          .when(isUpdating, waitForStep)
          .otherwise(rollbackOnEndpoint),
      );
    // Every bake renews the traffic lease: the source sends while, and only while, the judge judges.
    const renewAndBake = leaseTraffic('RenewTraffic', bake);
    stepInService.next(
      new sfn.Choice(this, 'FullyPromoted?')
        .when(sfn.Condition.booleanEquals('$.complete', true), promoted)
        .otherwise(renewAndBake),
    );
    const verdict = new sfn.Choice(this, 'Verdict?')
      .when(sfn.Condition.stringEquals('$.judgement.verdict', 'rollback'), rollbackOnVerdict)
      .when(sfn.Condition.stringEquals('$.judgement.verdict', 'wait'), renewAndBake)
      .when(sfn.Condition.stringEquals('$.judgement.verdict', 'promote'), nextStep.next(applyStep))
      .otherwise(rollbackOnUnknownVerdict);
    // The judge's answer carries the decisions so far (docs/CONTRACTS.md); a judge that records none
    // leaves the list as it was.
    const keepDecisions = new sfn.Pass(this, 'KeepDecisions', {
      inputPath: '$.judgement.decisions',
      resultPath: '$.decisions',
    }).next(verdict);
    bake
      .next(judge)
      .next(
        new sfn.Choice(this, 'DecisionsRecorded?')
          .when(sfn.Condition.isPresent('$.judgement.decisions'), keepDecisions)
          .otherwise(verdict),
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
      // The judge turns "wait" into rollback at the deadline; this only stops a stuck poll loop.
      timeout: Duration.minutes(policy.deadlineMinutes + 60),
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
