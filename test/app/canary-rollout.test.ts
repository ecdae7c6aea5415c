import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { ExecutionAbortedError, ExecutionError, StateMachine } from 'aws-local-stepfunctions';
import { CanaryRollout, type CanaryRolloutProps } from '../../lib/app/rollout/canary-rollout';
import type { FunctionDefaults } from '../../lib/app/service-function';
import type {
  LatencyReferenceQuery,
  RolloutMetrics,
  VariantMetricsQuery,
} from '../../services/rollout/adapters/cloudwatch';
import type { AlarmObservation, AlarmStateValue, PeriodMetrics } from '../../services/rollout/judge';
import { createJudgeHandler, type JudgeInput } from '../../services/rollout/judge-handler';
import type { MeasuredLatencyReference } from '../../services/rollout/latency-reference';
import { createRolloutPolicy } from '../../services/rollout/policy';
import { tempOutdir } from '../support/cdk-app';
import { lognormalAtOrBelow } from '../support/sagemaker-metrics';
import {
  resolveIntrinsics,
  stateMachineDefinition,
  expectValidAsl,
  type JsonValue,
  type TaskHandlers,
} from '../support/state-machine';

type Handlers = TaskHandlers;

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const ENDPOINT = 'Inference-Endpoint';
const PREFIX = '/mlinference/dev/model';
const CANDIDATE = 'v2';
const BASELINE = 'v1';
const MINUTE = 60_000;

/** Short rollout so every path runs in well under a second of wall time. */
const POLICY = createRolloutPolicy({
  steps: [10, 50, 100],
  minBakeMinutes: 2,
  deadlineMinutes: 30,
  alpha: 0.05,
  errorRegression: { ratio: 2, increase: 0.01 },
  latencyRegressionRatio: 1.2,
});

interface Built {
  readonly template: Template;
  readonly definition: Record<string, unknown>;
}

function build(overrides: Partial<CanaryRolloutProps> = {}): Built {
  // Skip esbuild: these tests read the template and run the definition, not the bundle.
  const app = new App({ outdir: tempOutdir(), context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Rollout', { env: { account: ACCOUNT, region: REGION } });
  const vpc = new ec2.Vpc(stack, 'Vpc', {
    availabilityZones: [`${REGION}a`, `${REGION}b`],
    natGateways: 0,
    subnetConfiguration: [{ name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
  });
  const key = new kms.Key(stack, 'Key', { enableKeyRotation: true });
  const defaults: FunctionDefaults = {
    vpc,
    subnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
    encryptionKey: key,
    logRetentionDays: logs.RetentionDays.ONE_MONTH,
    metricNamespace: 'MlInference',
  };
  const errors = new cloudwatch.Metric({
    namespace: 'AWS/SageMaker',
    metricName: 'Invocation5XXErrors',
    dimensionsMap: { EndpointName: ENDPOINT, VariantName: 'VariantB' },
  });
  const canaryAlarms = [
    new cloudwatch.Alarm(stack, 'CanaryErrors', { metric: errors, threshold: 5, evaluationPeriods: 1 }),
    new cloudwatch.Alarm(stack, 'CanaryLatency', {
      metric: new cloudwatch.Metric({
        namespace: 'AWS/SageMaker',
        metricName: 'ModelLatency',
        dimensionsMap: { EndpointName: ENDPOINT, VariantName: 'VariantB' },
        statistic: 'p99',
      }),
      threshold: 500_000,
      evaluationPeriods: 2,
    }),
  ];
  // Stands in for RolloutTraffic's function (its own tests cover it): the definition only invokes it.
  const traffic = new lambda.Function(stack, 'Traffic', {
    runtime: lambda.Runtime.NODEJS_24_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async () => ({})'),
  });
  new CanaryRollout(stack, 'Canary', {
    defaults,
    baselineVersion: BASELINE,
    trafficSource: { function: traffic, mode: 'always' },
    endpointName: ENDPOINT,
    canaryAlarms,
    alertTopic: new sns.Topic(stack, 'Alerts', { masterKey: key }),
    modelParameterPrefix: PREFIX,
    candidateVersion: CANDIDATE,
    policy: POLICY,
    ...overrides,
  });
  const template = Template.fromStack(stack);
  return { template, definition: stateMachineDefinition(template, { account: ACCOUNT, region: REGION }) };
}

// ---- In-memory AWS --------------------------------------------------------------------------------

class NamedError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/** A SageMaker endpoint: a weight update makes it `Updating` for `updatingPolls` describes. */
class FakeEndpoint {
  weights: Record<string, number> = { VariantA: 100, VariantB: 0 };
  status = 'InService';
  readonly updates: Record<string, number>[] = [];
  describes = 0;
  private pendingPolls = 0;

  constructor(
    private readonly updatingPolls = 0,
    private throttles = 0,
    /** 1-based number of the update after which the endpoint ends up `Failed`. */
    private readonly failAfterUpdate = 0,
    /** 1-based number of the update call that SageMaker refuses (not throttling). */
    private readonly refuseUpdate = 0,
  ) {}
  private calls = 0;

  update(input: JsonValue): JsonValue {
    const { EndpointName, DesiredWeightsAndCapacities } = input as {
      EndpointName: string;
      DesiredWeightsAndCapacities: { VariantName: string; DesiredWeight: number }[];
    };
    expect(EndpointName).toBe(ENDPOINT);
    if (this.throttles > 0) {
      this.throttles -= 1;
      throw new NamedError('SageMaker.ThrottlingException', 'Rate exceeded');
    }
    this.calls += 1;
    if (this.calls === this.refuseUpdate) {
      throw new NamedError('SageMaker.ValidationException', 'Could not find variant VariantB');
    }
    if (this.status === 'Updating') {
      throw new NamedError('SageMaker.ValidationException', 'Cannot update in-progress endpoint');
    }
    const weights = Object.fromEntries(
      DesiredWeightsAndCapacities.map((w) => [w.VariantName, w.DesiredWeight]),
    );
    this.updates.push(weights);
    this.weights = { ...this.weights, ...weights };
    this.status = 'Updating';
    this.pendingPolls = this.updatingPolls;
    return {};
  }

  describe(input: JsonValue): JsonValue {
    expect((input as { EndpointName: string }).EndpointName).toBe(ENDPOINT);
    this.describes += 1;
    if (this.status === 'Updating') {
      if (this.pendingPolls > 0) this.pendingPolls -= 1;
      else this.status = this.updates.length === this.failAfterUpdate ? 'Failed' : 'InService';
    }
    return { EndpointName: ENDPOINT, EndpointStatus: this.status };
  }
}

interface Traffic {
  /** Requests per minute over both variants. */
  readonly perMinute: number;
  readonly baselineErrorRate: number;
  readonly canaryErrorRate: number;
}

/** CloudWatch as the judge sees it: per-minute counts split by the endpoint's current weights. */
class FakeCloudWatch implements RolloutMetrics {
  readonly alarmQueries: (readonly string[])[] = [];

  constructor(
    private readonly endpoint: FakeEndpoint,
    private readonly traffic: Traffic,
    private readonly alarmState: (canaryWeight: number) => AlarmStateValue = () => 'OK',
  ) {}

  async alarmStates(names: readonly string[]): Promise<AlarmObservation[]> {
    this.alarmQueries.push(names);
    const state = this.alarmState(this.endpoint.weights.VariantB ?? 0);
    return names.map((name) => ({ name, state }));
  }

  /** The baseline served the same traffic in the hour before the rollout. */
  async latencyReference(query: LatencyReferenceQuery): Promise<MeasuredLatencyReference> {
    return {
      samples: 60 * this.traffic.perMinute,
      p50: 40,
      p99: 400,
      periodStart: Math.floor(query.rolloutStartedAt / MINUTE) * MINUTE - 60 * MINUTE,
    };
  }

  async variantMetrics(query: VariantMetricsQuery): Promise<PeriodMetrics[]> {
    const periods: PeriodMetrics[] = [];
    const canaryShare = (this.endpoint.weights.VariantB ?? 0) / 100;
    // Lognormal latencies with these percentiles; the counts at the judge's thresholds follow from them.
    const variant = (invocations: number, errorRate: number, p50: number, p99: number) => ({
      invocations,
      errors: Math.round(invocations * errorRate),
      p50,
      p99,
      ...(query.latencyThresholdsMs
        ? { atOrBelow: lognormalAtOrBelow(invocations, p50, p99, query.latencyThresholdsMs) }
        : {}),
    });
    for (let start = query.start.getTime(); start < query.end.getTime(); start += MINUTE) {
      const canary = Math.round(this.traffic.perMinute * canaryShare);
      const baseline = this.traffic.perMinute - canary;
      periods.push({
        start,
        baseline: variant(baseline, this.traffic.baselineErrorRate, 40, 400),
        canary: variant(canary, this.traffic.canaryErrorRate, 41, 405),
      });
    }
    return periods;
  }
}

interface Scenario {
  readonly traffic: Traffic;
  readonly alarmState?: (canaryWeight: number) => AlarmStateValue;
  readonly updatingPolls?: number;
  readonly throttles?: number;
  /** Status in the candidate's registry document before the run. @default 'candidate' */
  readonly candidateStatus?: string;
  readonly failAfterUpdate?: number;
  /** Endpoint weights before the run. @default baseline 100 / canary 0 */
  readonly initialWeights?: Record<string, number>;
  /** 1-based number of the weight update SageMaker refuses. */
  readonly refuseUpdate?: number;
  /** The judge fails (after its retries) from this 1-based call on. */
  readonly judgeFailsFrom?: number;
  /** The execution is aborted during this 1-based judge call. */
  readonly abortAtJudgeCall?: number;
}

/** What happened, in order: traffic leases, judge calls and weight updates (canary weight after each). */
type TimelineEntry =
  | {
      readonly kind: 'lease';
      readonly at: number;
      readonly windowSeconds: number;
      readonly canaryWeight: number;
    }
  | { readonly kind: 'judge'; readonly verdict: string }
  | { readonly kind: 'update'; readonly canaryWeight: number }
  | { readonly kind: 'abort' };

interface Outcome {
  readonly output?: JsonValue;
  readonly error?: ExecutionError;
  readonly endpoint: FakeEndpoint;
  readonly parameters: Map<string, string>;
  readonly notifications: { Subject?: string; Message: string }[];
  readonly verdicts: string[];
  readonly visits: Map<string, number>;
  readonly timeline: TimelineEntry[];
  readonly aborted: boolean;
}

const HEALTHY: Traffic = { perMinute: 600, baselineErrorRate: 0.005, canaryErrorRate: 0.005 };

/** Runs the synthesized definition locally against the in-memory endpoint and the real judge. */
async function execute(definition: Record<string, unknown>, scenario: Scenario): Promise<Outcome> {
  const endpoint = new FakeEndpoint(
    scenario.updatingPolls ?? 0,
    scenario.throttles ?? 0,
    scenario.failAfterUpdate,
    scenario.refuseUpdate,
  );
  const timeline: TimelineEntry[] = [];
  let abortExecution: () => void = () => undefined;
  if (scenario.initialWeights) endpoint.weights = { ...scenario.initialWeights };
  const cloudWatch = new FakeCloudWatch(endpoint, scenario.traffic, scenario.alarmState);
  const parameters = new Map<string, string>([
    [VERSION_DOC, JSON.stringify({ ...CANDIDATE_DOC, status: scenario.candidateStatus ?? 'candidate' })],
  ]);
  const notifications: { Subject?: string; Message: string }[] = [];
  const verdicts: string[] = [];
  // Simulated clock: every bake moves it one minute; Wait states themselves do not sleep. It starts at
  // the wall clock because the library sets `$$.Execution.StartTime` itself.
  let now = Date.now();
  let judgeCalls = 0;
  const judge = createJudgeHandler({ metrics: cloudWatch, log: { info: () => undefined }, now: () => now });
  // The judge with the contract's `decisions` (docs/CONTRACTS.md): a judge that records them already
  // is used as it is; otherwise its answer is recorded here, as the contract says.
  const recordingJudge = async (input: JudgeInput & { decisions?: unknown[] }) => {
    const output = (await judge(input)) as Awaited<ReturnType<typeof judge>> & { decisions?: unknown[] };
    if (output.decisions) return output;
    const decision = {
      judgedAt: output.judgedAt,
      stepIndex: input.stepIndex,
      canaryWeight: endpoint.weights.VariantB ?? 0,
      verdict: output.verdict,
      reason: output.reason,
      minute: null,
      baseline: null,
      canary: null,
    };
    return { ...output, decisions: [...(input.decisions ?? []), decision].slice(-400) };
  };

  const states = definition.States as Record<string, { Type: string; Resource?: string }>;
  const handlers: Handlers = {};
  const waits: Record<string, number> = {};
  const retries: Record<string, number> = {};
  for (const [name, state] of Object.entries(states)) {
    if (state.Type === 'Wait') waits[name] = 0;
    if (state.Type !== 'Task') continue;
    retries[name] = 0;
    const resource = state.Resource ?? '';
    if (resource.endsWith(':aws-sdk:sagemaker:updateEndpointWeightsAndCapacities')) {
      handlers[name] = (input) => {
        const output = endpoint.update(input);
        timeline.push({ kind: 'update', canaryWeight: endpoint.weights.VariantB ?? 0 });
        return output;
      };
    } else if (resource === 'arn:aws:states:::lambda:invoke') {
      // The traffic lease: an asynchronous invocation of the traffic source (one window of traffic).
      handlers[name] = (input) => {
        const { FunctionName, InvocationType, Payload } = input as {
          FunctionName: string;
          InvocationType: string;
          Payload: { windowSeconds: number; executionId: string };
        };
        expect(FunctionName).toMatch(/Traffic/);
        expect(InvocationType).toBe('Event');
        expect(Payload.executionId).toEqual(expect.any(String));
        timeline.push({
          kind: 'lease',
          at: now,
          windowSeconds: Payload.windowSeconds,
          canaryWeight: endpoint.weights.VariantB ?? 0,
        });
        return { StatusCode: 202 };
      };
    } else if (resource.endsWith(':aws-sdk:sagemaker:describeEndpoint')) {
      handlers[name] = (input) => endpoint.describe(input);
    } else if (resource.endsWith(':aws-sdk:ssm:putParameter')) {
      handlers[name] = (input) => {
        const { Name, Value, Overwrite } = input as { Name: string; Value: string; Overwrite: boolean };
        expect(Overwrite).toBe(true);
        parameters.set(Name, Value);
        return {};
      };
    } else if (resource.endsWith(':aws-sdk:ssm:getParameter')) {
      handlers[name] = (input) => {
        const { Name } = input as { Name: string };
        const Value = parameters.get(Name);
        if (Value === undefined) throw new NamedError('Ssm.ParameterNotFoundException', Name);
        return { Parameter: { Name, Value, Type: 'String' } };
      };
    } else if (resource.endsWith(':sns:publish')) {
      handlers[name] = (input) => {
        notifications.push(input as { Subject?: string; Message: string });
        return { MessageId: 'm-1' };
      };
    } else if (resource.startsWith('arn:aws:lambda:')) {
      handlers[name] = async (input) => {
        now += MINUTE;
        judgeCalls += 1;
        if (judgeCalls > 200) throw new Error('runaway rollout: the judge was asked 200 times');
        if (judgeCalls === scenario.abortAtJudgeCall) {
          timeline.push({ kind: 'abort' });
          abortExecution();
        }
        if (scenario.judgeFailsFrom !== undefined && judgeCalls >= scenario.judgeFailsFrom) {
          timeline.push({ kind: 'judge', verdict: 'error' });
          throw new NamedError('InvalidJudgeInputError', 'stepStartedAt is not a time');
        }
        const output = await recordingJudge(input as unknown as JudgeInput & { decisions?: unknown[] });
        verdicts.push(output.verdict);
        timeline.push({ kind: 'judge', verdict: output.verdict });
        return output as unknown as JsonValue;
      };
    } else {
      throw new Error(`no local handler for task ${name} (${resource})`);
    }
  }

  const visits = new Map<string, number>();
  const machine = new StateMachine(definition as unknown as ConstructorParameters<typeof StateMachine>[0]);
  const execution = machine.run(
    {},
    {
      overrides: {
        taskResourceLocalHandlers: handlers,
        waitTimeOverrides: waits,
        retryIntervalOverrides: retries,
      },
      context: {
        Execution: {
          Id: `arn:aws:states:${REGION}:${ACCOUNT}:execution:Canary:local`,
          StartTime: new Date(now).toISOString(),
        },
        // Evaluated when a state reads it, so `$$.State.EnteredTime` follows the simulated clock.
        State: {
          get EnteredTime() {
            return new Date(now).toISOString();
          },
        },
      },
    },
  );
  abortExecution = () => execution.abort();
  const collectVisits = (async () => {
    for await (const event of execution.eventLogs) {
      if (event.type === 'StateEntered')
        visits.set(event.state.name, (visits.get(event.state.name) ?? 0) + 1);
    }
  })();
  try {
    const output = await execution.result;
    await collectVisits;
    return { output, endpoint, parameters, notifications, verdicts, visits, timeline, aborted: false };
  } catch (error) {
    await collectVisits.catch(() => undefined);
    const aborted = error instanceof ExecutionAbortedError;
    if (!(error instanceof ExecutionError) && !aborted) throw error;
    return {
      error: aborted ? undefined : (error as ExecutionError),
      endpoint,
      parameters,
      notifications,
      verdicts,
      visits,
      timeline,
      aborted,
    };
  }
}

const ACTIVE = `${PREFIX}/active-version`;
const VERSION_DOC = `${PREFIX}/versions/${CANDIDATE}`;
const CANDIDATE_DOC = {
  version: CANDIDATE,
  featureCount: 4,
  labels: ['setosa', 'versicolor'],
  status: 'candidate',
  // Fields the rollout does not own (the drift job's training bins) must survive a status change.
  featureStats: [{ name: 'f1', binEdges: [0, 1, 2], binFractions: [0.5, 0.5] }],
};

/** The candidate's registry document after the run (docs/CONTRACTS.md). */
function versionDoc(outcome: Outcome): unknown {
  return JSON.parse(outcome.parameters.get(VERSION_DOC) ?? 'null');
}

function expectFullyBaselineOrPromoted(outcome: Outcome): void {
  expect([
    { VariantA: 100, VariantB: 0 },
    { VariantA: 0, VariantB: 100 },
  ]).toContainEqual(outcome.endpoint.weights);
  expect(outcome.endpoint.status).toBe('InService');
}

function expectRolledBack(outcome: Outcome, reason: RegExp): void {
  // The execution FAILS (so a pipeline step waiting for it fails) with the judge's reason as cause.
  expect((outcome.error?.cause as Error | undefined)?.name).toBe('CanaryRolledBack');
  expect(outcome.error?.message).toMatch(reason);
  expect(outcome.endpoint.weights).toEqual({ VariantA: 100, VariantB: 0 });
  expect(outcome.endpoint.updates.at(-1)).toEqual({ VariantA: 100, VariantB: 0 });
  expect(versionDoc(outcome)).toEqual({ ...CANDIDATE_DOC, status: 'rejected' });
  expect(outcome.parameters.has(ACTIVE)).toBe(false);
  expect(outcome.notifications).toHaveLength(1);
  expect(outcome.notifications[0].Message).toMatch(reason);
  expectFullyBaselineOrPromoted(outcome);
}

describe('CanaryRollout', () => {
  let built: Built;
  beforeAll(() => {
    built = build();
  });

  describe('synthesized definition', () => {
    it('is valid Amazon States Language', () => {
      expectValidAsl(built.definition);
    });

    it('retries a throttled weight update with backoff', () => {
      const states = built.definition.States as Record<string, { Retry?: Record<string, unknown>[] }>;
      for (const name of ['ApplyStepWeights', 'RollBackWeights']) {
        expect(states[name].Retry).toContainEqual(
          expect.objectContaining({ ErrorEquals: ['SageMaker.ThrottlingException'], BackoffRate: 2 }),
        );
      }
    });

    it('logs ALL to an encrypted log group and traces', () => {
      built.template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
        TracingConfiguration: { Enabled: true },
        LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: true }),
      });
      const groups = built.template.findResources('AWS::Logs::LogGroup');
      for (const group of Object.values(groups)) {
        expect(group.Properties.KmsKeyId).toBeDefined();
      }
    });
  });

  describe('IAM', () => {
    function statements(): { Action: string | string[]; Resource: unknown; Effect: string }[] {
      return Object.values(built.template.findResources('AWS::IAM::Policy')).flatMap(
        (policy) => policy.Properties.PolicyDocument.Statement,
      );
    }
    function resourcesOf(action: string): string[] {
      return statements()
        .filter((s) => [s.Action].flat().includes(action))
        .flatMap((s) =>
          [s.Resource]
            .flat()
            .map((r) => JSON.stringify(resolveIntrinsics(r, { account: ACCOUNT, region: REGION }))),
        );
    }

    it('changes and describes only this endpoint', () => {
      const arn = JSON.stringify(`arn:aws:sagemaker:${REGION}:${ACCOUNT}:endpoint/inference-endpoint`);
      expect(new Set(resourcesOf('sagemaker:UpdateEndpointWeightsAndCapacities'))).toEqual(new Set([arn]));
      expect(new Set(resourcesOf('sagemaker:DescribeEndpoint'))).toEqual(new Set([arn]));
    });

    it('writes only the active-version parameter and the candidate registry document', () => {
      const arn = (name: string) => JSON.stringify(`arn:aws:ssm:${REGION}:${ACCOUNT}:parameter${name}`);
      expect(new Set(resourcesOf('ssm:PutParameter'))).toEqual(new Set([arn(ACTIVE), arn(VERSION_DOC)]));
      expect(new Set(resourcesOf('ssm:GetParameter'))).toEqual(new Set([arn(VERSION_DOC)]));
    });

    it('lets the judge describe only the canary alarms and read metrics, with the wildcard acknowledged', () => {
      const alarms = resourcesOf('cloudwatch:DescribeAlarms');
      expect(alarms).toHaveLength(2);
      for (const alarm of alarms) expect(alarm).toMatch(/CanaryErrors|CanaryLatency/);
      expect(resourcesOf('cloudwatch:GetMetricData')).toEqual(['"*"']);
      expect(resourcesOf('sns:Publish')).toHaveLength(1);
    });
  });

  describe('local execution', () => {
    it('promotes a healthy canary step by step and records the active version', async () => {
      const outcome = await execute(built.definition, { traffic: HEALTHY });
      expect(outcome.error).toBeUndefined();
      expect(outcome.endpoint.updates).toEqual([
        { VariantA: 90, VariantB: 10 },
        { VariantA: 50, VariantB: 50 },
        { VariantA: 0, VariantB: 100 },
      ]);
      expect(outcome.verdicts.filter((v) => v === 'promote')).toHaveLength(2);
      expect(outcome.verdicts).not.toContain('rollback');
      expect(outcome.parameters.get(ACTIVE)).toBe(CANDIDATE);
      expect(versionDoc(outcome)).toEqual({ ...CANDIDATE_DOC, status: 'active' });
      expect(outcome.notifications).toHaveLength(0);
      // The RolloutRecord of docs/CONTRACTS.md, with every decision the judge recorded.
      expect(outcome.output).toEqual({
        outcome: 'promoted',
        endpointName: ENDPOINT,
        baselineVersion: BASELINE,
        candidateVersion: CANDIDATE,
        policy: JSON.parse(JSON.stringify(POLICY)),
        startedAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
        finishedAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
        decisions: outcome.verdicts.map((verdict) => expect.objectContaining({ verdict })),
        traffic: { mode: 'always' },
        weights: { VariantA: 0, VariantB: 100 },
      });
      const record = outcome.output as { decisions: { stepIndex: number; canaryWeight: number }[] };
      expect(record.decisions.map((d) => d.canaryWeight)).toEqual(
        record.decisions.map((d) => [10, 50][d.stepIndex]),
      );
      expectFullyBaselineOrPromoted(outcome);
    });

    it('starts from 0 %: traffic first, then the first step, and judges only at step weights', async () => {
      const outcome = await execute(built.definition, { traffic: HEALTHY });
      // Deployed with the candidate at 0 %: the first shift is the policy's first step.
      expect(outcome.timeline[0]).toMatchObject({ kind: 'lease', canaryWeight: 0 });
      expect(outcome.timeline[1]).toEqual({ kind: 'update', canaryWeight: 10 });
      expect(outcome.endpoint.updates[0]).toEqual({ VariantA: 90, VariantB: 10 });
      // Every judgement is preceded by a fresh lease of one bake (60 s) since the previous one.
      let leased = false;
      for (const entry of outcome.timeline) {
        if (entry.kind === 'lease') {
          expect(entry.windowSeconds).toBe(60);
          leased = true;
        }
        if (entry.kind === 'judge') {
          expect(leased).toBe(true);
          leased = false;
        }
      }
    });

    it('rolls back at once when a canary alarm fires mid-rollout', async () => {
      const outcome = await execute(built.definition, {
        traffic: HEALTHY,
        alarmState: (canaryWeight) => (canaryWeight >= 50 ? 'ALARM' : 'OK'),
      });
      expect(outcome.endpoint.updates.slice(0, 2)).toEqual([
        { VariantA: 90, VariantB: 10 },
        { VariantA: 50, VariantB: 50 },
      ]);
      expect(outcome.verdicts.at(-1)).toBe('rollback');
      expectRolledBack(outcome, /canary alarm in ALARM/);
    });

    it('rolls back when the judge finds the canary worse than the baseline', async () => {
      const outcome = await execute(built.definition, {
        traffic: { ...HEALTHY, canaryErrorRate: 0.05 },
      });
      expect(outcome.verdicts).not.toContain('promote');
      expect(outcome.verdicts.at(-1)).toBe('rollback');
      expectRolledBack(outcome, /canary 5xx rate is significantly higher than baseline/);
    });

    it('rolls back at the deadline when no traffic brings evidence', async () => {
      const outcome = await execute(built.definition, {
        traffic: { perMinute: 0, baselineErrorRate: 0, canaryErrorRate: 0 },
      });
      expect(outcome.verdicts.filter((v) => v === 'wait').length).toBeGreaterThanOrEqual(
        POLICY.deadlineMinutes - 2,
      );
      expect(outcome.verdicts.at(-1)).toBe('rollback');
      expectRolledBack(outcome, /deadline/i);
    });

    it('retries a throttled weight update instead of failing the rollout', async () => {
      const outcome = await execute(built.definition, { traffic: HEALTHY, throttles: 2 });
      expect(outcome.error).toBeUndefined();
      expect(outcome.visits.get('ApplyStepWeights')).toBe(3);
      expect(outcome.endpoint.updates[0]).toEqual({ VariantA: 90, VariantB: 10 });
      expect(outcome.parameters.get(ACTIVE)).toBe(CANDIDATE);
      expectFullyBaselineOrPromoted(outcome);
    });

    it('waits while the endpoint is still Updating before baking or shifting again', async () => {
      const outcome = await execute(built.definition, { traffic: HEALTHY, updatingPolls: 3 });
      expect(outcome.error).toBeUndefined();
      // Three weight shifts, each seen Updating three times and InService once.
      expect(outcome.endpoint.describes).toBe(12);
      expect(outcome.visits.get('WaitForStep')).toBe(12);
      expect(outcome.endpoint.weights).toEqual({ VariantA: 0, VariantB: 100 });
      expectFullyBaselineOrPromoted(outcome);
    });
  });

  it('rolls back when the endpoint ends up Failed after a weight shift', async () => {
    const outcome = await execute(built.definition, { traffic: HEALTHY, failAfterUpdate: 2 });
    expect(outcome.endpoint.updates).toEqual([
      { VariantA: 90, VariantB: 10 },
      { VariantA: 50, VariantB: 50 },
      { VariantA: 100, VariantB: 0 },
    ]);
    expectRolledBack(outcome, /endpoint status Failed after a weight shift/);
  });

  it("records a rejected candidate's archive SHA-256 where the registry guard looks it up", async () => {
    const sha256 = 'c0'.repeat(32);
    const { definition } = build({ candidateArchiveSha256: sha256 });
    const outcome = await execute(definition, { traffic: HEALTHY, failAfterUpdate: 2 });
    expectRolledBack(outcome, /endpoint status Failed after a weight shift/);
    expect(JSON.parse(outcome.parameters.get(`${PREFIX}/rejected/${sha256}`) ?? 'null')).toEqual({
      version: CANDIDATE,
      archiveSha256: sha256,
      status: 'rejected',
    });
  });

  describe('a later run for a decided candidate', () => {
    // A deploy that changed the endpoint config has reset the weights to the configured 80/20.
    const afterRedeploy = { VariantA: 80, VariantB: 20 };

    it('does not roll out a rejected candidate again: restores baseline 100 % and fails', async () => {
      const outcome = await execute(built.definition, {
        traffic: HEALTHY,
        candidateStatus: 'rejected',
        initialWeights: afterRedeploy,
      });
      expect((outcome.error?.cause as Error | undefined)?.name).toBe('CanaryRejectedBefore');
      expect(outcome.endpoint.updates).toEqual([{ VariantA: 100, VariantB: 0 }]);
      expect(outcome.endpoint.weights).toEqual({ VariantA: 100, VariantB: 0 });
      expect(outcome.verdicts).toEqual([]);
    });

    it('leaves a promoted candidate promoted: restores canary 100 % without judging again', async () => {
      const outcome = await execute(built.definition, {
        traffic: HEALTHY,
        candidateStatus: 'active',
        initialWeights: afterRedeploy,
      });
      expect(outcome.output).toMatchObject({
        outcome: 'already-promoted',
        endpointName: ENDPOINT,
        baselineVersion: BASELINE,
        candidateVersion: CANDIDATE,
        decisions: [],
        traffic: { mode: 'always' },
      });
      expect(outcome.endpoint.updates).toEqual([{ VariantA: 0, VariantB: 100 }]);
      expect(outcome.verdicts).toEqual([]);
      expect(outcome.timeline.filter((e) => e.kind === 'lease')).toEqual([]);
    });
  });

  describe('traffic source on every exit path', () => {
    /** Leases granted after the rollout's last judgement (or its abort): the source would run on. */
    function leasesAfterExit(outcome: Outcome): TimelineEntry[] {
      const last = outcome.timeline.findLastIndex((e) => e.kind === 'judge' || e.kind === 'abort');
      expect(last).toBeGreaterThan(0);
      return outcome.timeline.slice(last + 1).filter((e) => e.kind === 'lease');
    }

    it.each<[string, Scenario, (outcome: Outcome) => void]>([
      ['promotion', { traffic: HEALTHY }, (o) => expect(o.output).toMatchObject({ outcome: 'promoted' })],
      [
        'rollback by the judge',
        { traffic: { ...HEALTHY, canaryErrorRate: 0.05 } },
        (o) => expectRolledBack(o, /significantly higher/),
      ],
      [
        'a judge error',
        { traffic: HEALTHY, judgeFailsFrom: 2 },
        (o) => expectRolledBack(o, /rollout step failed: InvalidJudgeInputError/),
      ],
      [
        'a failed weight update',
        { traffic: HEALTHY, refuseUpdate: 2 },
        (o) =>
          expectRolledBack(o, /rollout step failed: SageMaker\.ValidationException: Could not find variant/),
      ],
      [
        'the endpoint Failed',
        { traffic: HEALTHY, failAfterUpdate: 2 },
        (o) => expectRolledBack(o, /endpoint status Failed/),
      ],
      [
        'an abort (no Catch runs)',
        { traffic: HEALTHY, abortAtJudgeCall: 2 },
        (o) => {
          expect(o.aborted).toBe(true);
          expect(o.notifications).toEqual([]);
        },
      ],
    ])('%s: leased before judging, no lease after the end', async (_name, scenario, expectOutcome) => {
      const outcome = await execute(built.definition, scenario);
      expectOutcome(outcome);
      const firstJudge = outcome.timeline.findIndex((e) => e.kind === 'judge');
      expect(outcome.timeline.slice(0, firstJudge).some((e) => e.kind === 'lease')).toBe(true);
      expect(leasesAfterExit(outcome)).toEqual([]);
      // So the source stops within one window (60 s) of the last lease, however the run ended.
      const leases = outcome.timeline.filter((e) => e.kind === 'lease');
      expect(leases.every((lease) => lease.kind === 'lease' && lease.windowSeconds <= 60)).toBe(true);
    });
  });

  it('rejects an unusable parameter prefix at synth with what to change', () => {
    expect(() => build({ modelParameterPrefix: 'mlinference/dev/' })).toThrow(
      /modelParameterPrefix 'mlinference\/dev\/' must be an SSM path like \/mlinference\/dev\/model/,
    );
  });
});
