/**
 * A world for the canary rollout state machine: the synthesized definition run by aws-local-stepfunctions
 * against a simulated SageMaker endpoint (status, CurrentWeight/DesiredWeight, how an update ends), SSM,
 * SNS, the traffic source and the real judge handler over simulated CloudWatch, on a simulated clock.
 * Faults are injected by attempt number (the n-th call of a kind fails, the n-th accepted update ends
 * badly, the n-th judge answer is malformed); `checkInvariants` states the controller's promises
 * (docs/ROLLOUT.md, "Invariants") over what the world looks like at the end.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
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
import { createRolloutPolicy, type RolloutPolicy } from '../../services/rollout/policy';
import { tempOutdir } from './cdk-app';
import { lognormalAtOrBelow } from './sagemaker-metrics';
import { stateMachineDefinition, type JsonValue, type TaskHandlers } from './state-machine';

export const ACCOUNT = '123456789012';
export const REGION = 'eu-west-1';
export const ENDPOINT = 'Inference-Endpoint';
export const PREFIX = '/mlinference/dev/model';
export const CANDIDATE = 'v2';
export const BASELINE = 'v1';
export const ACTIVE = `${PREFIX}/active-version`;
export const VERSION_DOC = `${PREFIX}/versions/${CANDIDATE}`;
const MINUTE = 60_000;
const BASELINE_VARIANT = 'VariantA';
const CANARY_VARIANT = 'VariantB';

/** Short rollout so every path runs in well under a second of wall time. */
export const POLICY = createRolloutPolicy({
  steps: [10, 50, 100],
  minBakeMinutes: 2,
  deadlineMinutes: 30,
  alpha: 0.05,
  errorRegression: { ratio: 2, increase: 0.01 },
  latencyRegressionRatio: 1.2,
});

export const CANDIDATE_DOC = {
  version: CANDIDATE,
  featureCount: 4,
  labels: ['setosa', 'versicolor'],
  status: 'candidate',
  // Fields the rollout does not own (the drift job's training bins) must survive a status change.
  featureStats: [{ name: 'f1', binEdges: [0, 1, 2], binFractions: [0.5, 0.5] }],
};

export interface Built {
  readonly template: Template;
  readonly definition: Record<string, unknown>;
}

/** Synthesizes the CanaryRollout in a stack of its own (no bundling) and returns its definition. */
export function buildRollout(overrides: Partial<CanaryRolloutProps> = {}): Built {
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
    dimensionsMap: { EndpointName: ENDPOINT, VariantName: CANARY_VARIANT },
  });
  const canaryAlarms = [
    new cloudwatch.Alarm(stack, 'CanaryErrors', { metric: errors, threshold: 5, evaluationPeriods: 1 }),
    new cloudwatch.Alarm(stack, 'CanaryLatency', {
      metric: new cloudwatch.Metric({
        namespace: 'AWS/SageMaker',
        metricName: 'ModelLatency',
        dimensionsMap: { EndpointName: ENDPOINT, VariantName: CANARY_VARIANT },
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

export class NamedError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

// ---- Faults ---------------------------------------------------------------------------------------

/** Which weight update a fault is about, by the state that asks for it. */
export type UpdatePath = 'forward' | 'rollback' | 'restore';
/** How an update SageMaker accepted ends (`InService` with the asked weights when no fault says otherwise). */
export type UpdateEnding = 'rolling-back' | 'failed' | 'out-of-service' | 'stuck' | 'slow';
/** Ways the judge's answer can break its contract. */
export const MALFORMATIONS = [
  'missing-verdict',
  'unknown-verdict',
  'numeric-verdict',
  'missing-weights',
  'weights-without-canary',
  'relative-weights',
  'weights-not-summing-to-100',
  'missing-next-step-index',
  'next-step-index-out-of-range',
  'string-next-step-index',
  'missing-done',
  'done-at-partial-weight',
  'rollback-without-reason',
  'null-answer',
] as const;
export type Malformation = (typeof MALFORMATIONS)[number];

/** A call that fails with an error; `attempt` is the 1-based count of calls of that kind. */
export type Fault =
  | {
      readonly kind: 'update-error';
      readonly path: UpdatePath;
      readonly error: string;
      readonly attempt: number;
    }
  | {
      readonly kind: 'update-ending';
      readonly path: UpdatePath;
      readonly ending: UpdateEnding;
      readonly attempt: number;
    }
  | { readonly kind: 'describe-error'; readonly error: string; readonly attempt: number }
  | {
      readonly kind: 'describe-odd';
      readonly odd: 'no-variants' | 'no-canary-variant' | 'system-updating' | 'no-status';
      readonly attempt: number;
    }
  | { readonly kind: 'judge-error'; readonly error: string; readonly attempt: number }
  | { readonly kind: 'judge-malformed'; readonly malformation: Malformation; readonly attempt: number }
  | {
      readonly kind: 'ssm-get-error';
      readonly error: string;
      readonly attempt: number;
      readonly times?: number;
    }
  | {
      readonly kind: 'ssm-put-error';
      readonly error: string;
      readonly attempt: number;
      readonly times?: number;
    }
  | { readonly kind: 'sns-error'; readonly error: string; readonly attempt: number }
  | { readonly kind: 'lease-error'; readonly error: string; readonly attempt: number }
  /** An abort during the n-th task call (or the n-th judge call). */
  | { readonly kind: 'abort'; readonly attempt: number; readonly on?: 'judge' };

/** The name a fault is counted under in the report (its kind and variety, not its attempt). */
export function faultName(fault: Fault): string {
  switch (fault.kind) {
    case 'update-error':
      return `update-error:${fault.path}:${fault.error}`;
    case 'update-ending':
      return `update-ending:${fault.path}:${fault.ending}`;
    case 'describe-error':
    case 'judge-error':
    case 'sns-error':
    case 'lease-error':
      return `${fault.kind}:${fault.error}`;
    case 'ssm-get-error':
    case 'ssm-put-error':
      return `${fault.kind}:${fault.error}${fault.times && fault.times > 1 ? ':repeated' : ''}`;
    case 'describe-odd':
      return `describe-odd:${fault.odd}`;
    case 'judge-malformed':
      return `judge-malformed:${fault.malformation}`;
    case 'abort':
      return 'abort';
  }
}

/** What the candidate's registry holds before the run: a status, or no document at all. */
export type StartingStatus =
  'candidate' | 'baseline' | 'active' | 'rejected' | 'retired' | 'no-status' | 'missing';

/** The traffic the judge sees. */
export interface Traffic {
  /** Requests per minute over both variants. */
  readonly perMinute: number;
  readonly baselineErrorRate: number;
  readonly canaryErrorRate: number;
}

export const HEALTHY: Traffic = { perMinute: 600, baselineErrorRate: 0.005, canaryErrorRate: 0.005 };

/** One run of the world: everything it depends on, so it can be replayed from this value alone. */
export interface Scenario {
  readonly traffic: Traffic;
  readonly faults?: readonly Fault[];
  /** @default 'candidate' */
  readonly startingStatus?: StartingStatus;
  /** Endpoint weights before the run. @default baseline 100 / canary 0 */
  readonly initialWeights?: Record<string, number>;
  /** Describes an accepted update stays `Updating` before it ends. @default 0 */
  readonly updatingPolls?: number;
  readonly alarmState?: (canaryWeight: number) => AlarmStateValue;
}

// ---- The endpoint ---------------------------------------------------------------------------------

interface Pending {
  polls: number;
  readonly ending: UpdateEnding | 'in-service';
  readonly previous: Record<string, number>;
}

/** A SageMaker endpoint with two variants, as UpdateEndpointWeightsAndCapacities and DescribeEndpoint see it. */
export class SimulatedEndpoint {
  /** CurrentWeight per variant: what the endpoint serves. */
  weights: Record<string, number>;
  /** DesiredWeight per variant: what the last accepted update asked for. */
  desired: Record<string, number>;
  status = 'InService';
  /** Every accepted update's asked weights, in order. */
  readonly updates: Record<string, number>[] = [];
  describes = 0;
  private pending: Pending | undefined;
  private rollingBackPolls = 0;
  private readonly attempts: Record<UpdatePath, number> = { forward: 0, rollback: 0, restore: 0 };
  private readonly accepted: Record<UpdatePath, number> = { forward: 0, rollback: 0, restore: 0 };

  constructor(
    initial: Record<string, number>,
    private readonly faults: readonly Fault[],
    private readonly updatingPolls: number,
  ) {
    this.weights = { ...initial };
    this.desired = { ...initial };
  }

  /** The canary's share of traffic (weights are relative), NaN when no variant has weight. */
  canaryShare(): number {
    const total = (this.weights[BASELINE_VARIANT] ?? 0) + (this.weights[CANARY_VARIANT] ?? 0);
    return (this.weights[CANARY_VARIANT] ?? 0) / total;
  }

  update(path: UpdatePath, input: JsonValue): JsonValue {
    const { EndpointName, DesiredWeightsAndCapacities } = input as {
      EndpointName: string;
      DesiredWeightsAndCapacities: { VariantName: string; DesiredWeight: number }[];
    };
    if (EndpointName !== ENDPOINT) throw new Error(`update of an unknown endpoint ${EndpointName}`);
    this.attempts[path] += 1;
    const error = this.faults.find(
      (f) => f.kind === 'update-error' && f.path === path && f.attempt === this.attempts[path],
    );
    if (error?.kind === 'update-error') throw new NamedError(error.error, `injected ${faultName(error)}`);
    if (this.status !== 'InService') {
      throw new NamedError(
        'SageMaker.ValidationException',
        `Cannot update endpoint ${ENDPOINT} while it is ${this.status}`,
      );
    }
    for (const weight of DesiredWeightsAndCapacities) {
      if (typeof weight.DesiredWeight !== 'number' || weight.DesiredWeight < 0) {
        throw new NamedError(
          'SageMaker.ValidationException',
          `invalid DesiredWeight ${String(weight.DesiredWeight)}`,
        );
      }
    }
    this.accepted[path] += 1;
    const ending = this.faults.find(
      (f) => f.kind === 'update-ending' && f.path === path && f.attempt === this.accepted[path],
    );
    const asked = Object.fromEntries(
      DesiredWeightsAndCapacities.map((w) => [w.VariantName, w.DesiredWeight]),
    );
    this.updates.push(asked);
    this.pending = {
      polls: this.updatingPolls + (ending?.kind === 'update-ending' && ending.ending === 'slow' ? 15 : 0),
      ending: ending?.kind === 'update-ending' ? ending.ending : 'in-service',
      previous: { ...this.weights },
    };
    this.desired = { ...this.desired, ...asked };
    this.status = 'Updating';
    return {};
  }

  describe(input: JsonValue): JsonValue {
    if ((input as { EndpointName: string }).EndpointName !== ENDPOINT)
      throw new Error('describe of an unknown endpoint');
    this.describes += 1;
    const error = this.faults.find((f) => f.kind === 'describe-error' && f.attempt === this.describes);
    if (error?.kind === 'describe-error') throw new NamedError(error.error, `injected ${faultName(error)}`);
    this.advance();
    const odd = this.faults.find((f) => f.kind === 'describe-odd' && f.attempt === this.describes);
    const variants = [BASELINE_VARIANT, CANARY_VARIANT]
      .filter(
        (name) =>
          !(odd?.kind === 'describe-odd' && odd.odd === 'no-canary-variant' && name === CANARY_VARIANT),
      )
      .map((name) => ({
        VariantName: name,
        CurrentWeight: this.weights[name] ?? 0,
        DesiredWeight: this.desired[name] ?? 0,
        CurrentInstanceCount: 1,
      }));
    const status =
      odd?.kind === 'describe-odd' && odd.odd === 'system-updating' ? 'SystemUpdating' : this.status;
    return {
      EndpointName: ENDPOINT,
      ...(odd?.kind === 'describe-odd' && odd.odd === 'no-status' ? {} : { EndpointStatus: status }),
      ...(odd?.kind === 'describe-odd' && odd.odd === 'no-variants' ? {} : { ProductionVariants: variants }),
    };
  }

  /** One describe's worth of progress of the update in flight. */
  private advance(): void {
    if (this.status === 'RollingBack') {
      if (this.rollingBackPolls-- > 0) return;
      this.status = 'InService';
      return;
    }
    const pending = this.pending;
    if (this.status !== 'Updating' || !pending) return;
    if (pending.ending === 'stuck') return;
    if (pending.polls-- > 0) return;
    this.pending = undefined;
    switch (pending.ending) {
      case 'in-service':
      case 'slow':
        this.weights = { ...this.desired };
        this.status = 'InService';
        return;
      case 'rolling-back':
        // SageMaker restores the endpoint as it was: old weights, asked and served.
        this.weights = { ...pending.previous };
        this.desired = { ...pending.previous };
        this.status = 'RollingBack';
        this.rollingBackPolls = 2;
        return;
      case 'failed':
        this.status = 'Failed';
        return;
      case 'out-of-service':
        this.weights = { ...this.desired };
        this.status = 'OutOfService';
        return;
    }
  }
}

// ---- CloudWatch -----------------------------------------------------------------------------------

/** CloudWatch as the judge sees it: per-minute counts split by the endpoint's current canary share. */
export class FakeCloudWatch implements RolloutMetrics {
  constructor(
    private readonly canaryShare: () => number,
    private readonly traffic: Traffic,
    private readonly alarmState: (canaryWeight: number) => AlarmStateValue = () => 'OK',
  ) {}

  private share(): number {
    const share = this.canaryShare();
    return Number.isFinite(share) ? share : 0;
  }

  async alarmStates(names: readonly string[]): Promise<AlarmObservation[]> {
    const state = this.alarmState(Math.round(this.share() * 100));
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
      const canary = Math.round(this.traffic.perMinute * this.share());
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

// ---- One execution --------------------------------------------------------------------------------

/** What happened, in order. */
export type TimelineEntry =
  | {
      readonly kind: 'lease';
      readonly at: number;
      readonly windowSeconds: number;
      readonly canaryWeight: number;
    }
  | { readonly kind: 'judge'; readonly verdict: string; readonly malformed?: Malformation }
  | { readonly kind: 'update'; readonly path: UpdatePath; readonly weights: Record<string, number> }
  | { readonly kind: 'abort' };

export type EndStatus = 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT' | 'RUNAWAY';

export interface Outcome {
  readonly scenario: Scenario;
  readonly status: EndStatus;
  readonly output?: JsonValue;
  readonly error?: ExecutionError;
  /** The error name a FAILED execution ends with (`CanaryRolledBack`, `States.Runtime`, ...). */
  readonly errorName?: string;
  readonly endpoint: SimulatedEndpoint;
  readonly parameters: Map<string, string>;
  /** SNS messages the topic accepted. */
  readonly notifications: { Subject?: string; Message: string }[];
  /** Verdicts of the well-formed answers the judge gave. */
  readonly verdicts: string[];
  readonly visits: Map<string, number>;
  readonly timeline: TimelineEntry[];
}

/** Where every run's simulated clock starts. */
const SIMULATED_START = Date.parse('2026-06-01T12:00:00.000Z');

/** State transitions after which a run counts as a runaway (far beyond any bound). */
const STATE_TRANSITION_LIMIT = 5_000;

function without(value: Record<string, unknown>, key: string): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([k]) => k !== key));
}

function malform(output: Record<string, unknown>, how: Malformation): unknown {
  const weights = output.weights as Record<string, number> | undefined;
  switch (how) {
    case 'missing-verdict':
      return without(output, 'verdict');
    case 'unknown-verdict':
      return { ...output, verdict: 'proceed' };
    case 'numeric-verdict':
      return { ...output, verdict: 1 };
    case 'missing-weights':
      return without(output, 'weights');
    case 'weights-without-canary':
      return { ...output, weights: { [BASELINE_VARIANT]: weights?.[BASELINE_VARIANT] ?? 50 } };
    case 'relative-weights':
      // The same canary share as the answer... unless it is read as percent: 20/180 is 90 %.
      return { ...output, weights: { [BASELINE_VARIANT]: 20, [CANARY_VARIANT]: 180 } };
    case 'weights-not-summing-to-100':
      return { ...output, weights: { [BASELINE_VARIANT]: 50, [CANARY_VARIANT]: 80 } };
    case 'missing-next-step-index':
      return without(output, 'nextStepIndex');
    case 'next-step-index-out-of-range':
      return { ...output, nextStepIndex: 7 };
    case 'string-next-step-index':
      return { ...output, nextStepIndex: String(output.nextStepIndex) };
    case 'missing-done':
      return without(output, 'done');
    case 'done-at-partial-weight':
      return {
        ...output,
        verdict: 'promote',
        done: true,
        weights: { [BASELINE_VARIANT]: 50, [CANARY_VARIANT]: 50 },
      };
    case 'rollback-without-reason':
      return { ...without(output, 'reason'), verdict: 'rollback' };
    case 'null-answer':
      return null;
  }
}

/** Runs the synthesized definition in the world the scenario describes. */
const machines = new WeakMap<Record<string, unknown>, StateMachine>();
/** One engine per definition: building it validates the definition, which costs more than a run. */
function machineOf(definition: Record<string, unknown>): StateMachine {
  let machine = machines.get(definition);
  if (!machine) {
    machine = new StateMachine(definition as unknown as ConstructorParameters<typeof StateMachine>[0]);
    machines.set(definition, machine);
  }
  return machine;
}
export async function runRollout(definition: Record<string, unknown>, scenario: Scenario): Promise<Outcome> {
  const faults = scenario.faults ?? [];
  const endpoint = new SimulatedEndpoint(
    scenario.initialWeights ?? { [BASELINE_VARIANT]: 100, [CANARY_VARIANT]: 0 },
    faults,
    scenario.updatingPolls ?? 0,
  );
  const timeline: TimelineEntry[] = [];
  const cloudWatch = new FakeCloudWatch(() => endpoint.canaryShare(), scenario.traffic, scenario.alarmState);
  const parameters = new Map<string, string>();
  const starting = scenario.startingStatus ?? 'candidate';
  if (starting === 'no-status') {
    parameters.set(VERSION_DOC, JSON.stringify(without(CANDIDATE_DOC, 'status')));
  } else if (starting !== 'missing') {
    parameters.set(VERSION_DOC, JSON.stringify({ ...CANDIDATE_DOC, status: starting }));
  }
  const notifications: { Subject?: string; Message: string }[] = [];
  const verdicts: string[] = [];
  // Simulated clock: a describe follows one poll interval, a judgement one bake; Wait states themselves do
  // not sleep. It starts at a fixed time, so a seed replays exactly: the judge's minutes are aligned to
  // it. (The library sets `$$.Execution.StartTime` to the wall clock; the judge is given this start.)
  const startedAt = SIMULATED_START;
  let now = startedAt;
  const counts = { judge: 0, get: 0, put: 0, sns: 0, lease: 0, task: 0 };
  const judge = createJudgeHandler({ metrics: cloudWatch, log: { info: () => undefined }, now: () => now });

  const states = definition.States as Record<string, { Type: string; Resource?: string; Seconds?: number }>;
  const timeoutMs = (definition.TimeoutSeconds as number) * 1000;
  const pollMs = (states.WaitForStep?.Seconds ?? 30) * 1000;
  const bakeMs = (states.Bake?.Seconds ?? 60) * 1000;
  let stoppedBy: 'abort' | 'timeout' | 'runaway' | undefined;
  let abortExecution: () => void = () => undefined;
  const stop = (why: 'abort' | 'timeout' | 'runaway'): void => {
    if (stoppedBy) return;
    stoppedBy = why;
    abortExecution();
  };
  const failWith = (kind: Fault['kind'], attempt: number): void => {
    const fault = faults.find((f) => f.kind === kind && f.attempt === attempt);
    if (fault && 'error' in fault) throw new NamedError(fault.error, `injected ${faultName(fault)}`);
  };
  const repeatedFailure = (kind: 'ssm-get-error' | 'ssm-put-error', attempt: number): void => {
    const fault = faults.find(
      (f) =>
        f.kind === kind &&
        attempt >= f.attempt &&
        attempt < f.attempt + ((f as { times?: number }).times ?? 1),
    );
    if (fault && 'error' in fault) throw new NamedError(fault.error, `injected ${faultName(fault)}`);
  };
  /** Every task call: counts towards an abort fault and moves the clock; past the timeout the run stops. */
  const tick = (ms: number): void => {
    counts.task += 1;
    now += ms;
    if (faults.some((f) => f.kind === 'abort' && !f.on && f.attempt === counts.task)) {
      timeline.push({ kind: 'abort' });
      stop('abort');
    } else if (now - startedAt > timeoutMs) stop('timeout');
    // A stopped execution runs no further task (its result is discarded anyway).
    if (stoppedBy) throw new NamedError('States.Aborted', `execution stopped: ${stoppedBy}`);
  };

  const handlers: TaskHandlers = {};
  const waits: Record<string, number> = {};
  const retries: Record<string, number> = {};
  for (const [name, state] of Object.entries(states)) {
    if (state.Type === 'Wait') waits[name] = 0;
    if (state.Type !== 'Task') continue;
    retries[name] = 0;
    const resource = state.Resource ?? '';
    if (resource.endsWith(':aws-sdk:sagemaker:updateEndpointWeightsAndCapacities')) {
      const path: UpdatePath = /RollBack/.test(name)
        ? 'rollback'
        : /Restore/.test(name)
          ? 'restore'
          : 'forward';
      handlers[name] = (input) => {
        tick(0);
        const output = endpoint.update(path, input);
        timeline.push({ kind: 'update', path, weights: { ...(endpoint.updates.at(-1) ?? {}) } });
        return output;
      };
    } else if (resource.endsWith(':aws-sdk:sagemaker:describeEndpoint')) {
      handlers[name] = (input) => {
        tick(pollMs);
        return endpoint.describe(input);
      };
    } else if (resource === 'arn:aws:states:::lambda:invoke') {
      // The traffic lease: an asynchronous invocation of the traffic source (one window of traffic).
      handlers[name] = (input) => {
        tick(0);
        counts.lease += 1;
        failWith('lease-error', counts.lease);
        const { InvocationType, Payload } = input as {
          InvocationType: string;
          Payload: { windowSeconds: number };
        };
        if (InvocationType !== 'Event') throw new Error('the lease must be an asynchronous invocation');
        timeline.push({
          kind: 'lease',
          at: now,
          windowSeconds: Payload.windowSeconds,
          canaryWeight: Math.round(endpoint.canaryShare() * 100),
        });
        return { StatusCode: 202 };
      };
    } else if (resource.endsWith(':aws-sdk:ssm:putParameter')) {
      handlers[name] = (input) => {
        tick(0);
        counts.put += 1;
        repeatedFailure('ssm-put-error', counts.put);
        const { Name, Value } = input as { Name: string; Value: string };
        parameters.set(Name, Value);
        return {};
      };
    } else if (resource.endsWith(':aws-sdk:ssm:getParameter')) {
      handlers[name] = (input) => {
        tick(0);
        counts.get += 1;
        repeatedFailure('ssm-get-error', counts.get);
        const { Name } = input as { Name: string };
        const Value = parameters.get(Name);
        if (Value === undefined) throw new NamedError('Ssm.ParameterNotFoundException', Name);
        return { Parameter: { Name, Value, Type: 'String' } };
      };
    } else if (resource.endsWith(':sns:publish')) {
      handlers[name] = (input) => {
        tick(0);
        counts.sns += 1;
        failWith('sns-error', counts.sns);
        notifications.push(input as { Subject?: string; Message: string });
        return { MessageId: `m-${counts.sns}` };
      };
    } else if (resource.startsWith('arn:aws:lambda:')) {
      handlers[name] = async (input) => {
        counts.judge += 1;
        if (faults.some((f) => f.kind === 'abort' && f.on === 'judge' && f.attempt === counts.judge)) {
          timeline.push({ kind: 'abort' });
          stop('abort');
        }
        tick(bakeMs);
        const error = faults.find((f) => f.kind === 'judge-error' && f.attempt === counts.judge);
        if (error?.kind === 'judge-error') {
          timeline.push({ kind: 'judge', verdict: 'error' });
          throw new NamedError(error.error, `injected ${faultName(error)}`);
        }
        const asked = {
          ...(input as unknown as JudgeInput),
          rolloutStartedAt: new Date(startedAt).toISOString(),
        };
        const output = (await judge(asked)) as unknown as Record<string, unknown>;
        const bad = faults.find((f) => f.kind === 'judge-malformed' && f.attempt === counts.judge);
        if (bad?.kind === 'judge-malformed') {
          timeline.push({ kind: 'judge', verdict: 'malformed', malformed: bad.malformation });
          return malform(output, bad.malformation) as JsonValue;
        }
        verdicts.push(output.verdict as string);
        timeline.push({ kind: 'judge', verdict: output.verdict as string });
        return output as JsonValue;
      };
    } else {
      throw new Error(`no local handler for task ${name} (${resource})`);
    }
  }

  const visits = new Map<string, number>();
  const machine = machineOf(definition);
  const execution = machine.run(
    {},
    {
      overrides: {
        taskResourceLocalHandlers: handlers,
        waitTimeOverrides: waits,
        retryIntervalOverrides: retries,
      },
      context: {
        Execution: { Id: `arn:aws:states:${REGION}:${ACCOUNT}:execution:Canary:local` },
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
  let transitions = 0;
  const collectVisits = (async () => {
    for await (const event of execution.eventLogs) {
      if (event.type !== 'StateEntered') continue;
      visits.set(event.state.name, (visits.get(event.state.name) ?? 0) + 1);
      if (++transitions > STATE_TRANSITION_LIMIT) stop('runaway');
    }
  })();
  const base = { scenario, endpoint, parameters, notifications, verdicts, visits, timeline };
  try {
    const output = await execution.result;
    await collectVisits;
    return { ...base, status: 'SUCCEEDED', output };
  } catch (error) {
    await collectVisits.catch(() => undefined);
    if (error instanceof ExecutionAbortedError) {
      const status = stoppedBy === 'timeout' ? 'TIMED_OUT' : stoppedBy === 'runaway' ? 'RUNAWAY' : 'ABORTED';
      return { ...base, status };
    }
    if (!(error instanceof ExecutionError)) throw error;
    const cause = error.cause as Error | undefined;
    return { ...base, status: 'FAILED', error, errorName: cause?.name ?? error.name };
  }
}

// ---- Invariants -----------------------------------------------------------------------------------

/** Errors the controller ends with by design (docs/ROLLOUT.md, output contract). */
export const DESIGNED_ERRORS = [
  'CanaryRolledBack',
  'CanaryRolloutFailed',
  'CanaryRejectedBefore',
  'CanaryRollbackIncomplete',
  'CanaryRestoreIncomplete',
  'CanaryRecordIncomplete',
  'CanaryRegistryUnreadable',
];

/** Alerts that say the endpoint or the registry may not be as the invariants want them. */
const INCOMPLETE = /rollback FAILED|not restored|not fully recorded|not started/;

function registryStatus(outcome: Outcome): string | undefined {
  const doc = outcome.parameters.get(VERSION_DOC);
  return doc === undefined ? undefined : ((JSON.parse(doc) as { status?: string }).status ?? undefined);
}

function stepWeights(policy: RolloutPolicy): string[] {
  return policy.steps.map((canary) => JSON.stringify({ VariantA: 100 - canary, VariantB: canary }));
}

/**
 * The controller's promises at the end of an execution (docs/ROLLOUT.md, "Invariants"); returns the
 * ones broken, empty when all hold. An abort (no Catch runs, by Step Functions' design) is only held to
 * "no traffic lease after the end".
 */
export function checkInvariants(outcome: Outcome, policy: RolloutPolicy = POLICY): string[] {
  const broken: string[] = [];
  const { timeline, endpoint, notifications } = outcome;
  // I4: the traffic source is leased only ahead of a judgement.
  const lastJudge = timeline.findLastIndex((e) => e.kind === 'judge' || e.kind === 'abort');
  const leasesAfter = timeline.slice(lastJudge + 1).filter((e) => e.kind === 'lease').length;
  if (leasesAfter > (lastJudge < 0 ? 1 : 0))
    broken.push(`I4: ${leasesAfter} traffic lease(s) after the last judgement`);
  if (outcome.status === 'ABORTED') return broken;

  const share = endpoint.canaryShare();
  const alerted = notifications.some((n) => INCOMPLETE.test(n.Subject ?? ''));
  const status = registryStatus(outcome);
  const starting = outcome.scenario.startingStatus ?? 'candidate';
  // I0: every execution ends by design (no timeout, no runtime error, no endless loop).
  if (outcome.status === 'TIMED_OUT' || outcome.status === 'RUNAWAY')
    broken.push(`I0: the execution ${outcome.status}`);
  if (outcome.status === 'FAILED' && !DESIGNED_ERRORS.includes(outcome.errorName ?? '')) {
    broken.push(`I0: the execution failed with ${outcome.errorName}: ${outcome.error?.message}`);
  }
  // I1: the endpoint serves one model, read back; or an alert said it may not.
  if (share !== 0 && share !== 1 && !alerted) {
    broken.push(
      `I1: the endpoint ends at canary ${(share * 100).toFixed(1)} % (${endpoint.status}) with no alert`,
    );
  }
  // I2: the registry says active iff the canary serves 100 %, rejected iff rolled back on evidence.
  if (!alerted && status !== undefined && (status === 'active') !== (share === 1)) {
    broken.push(`I2: registry status ${status} with the canary at ${(share * 100).toFixed(1)} %`);
  }
  const evidence = outcome.errorName === 'CanaryRolledBack';
  const unrecorded = notifications.some((n) => /could not record the rejection/.test(n.Message));
  if (status === 'rejected' && !evidence && starting !== 'rejected') {
    broken.push(
      `I2: registry status rejected without a rollback on evidence (${outcome.errorName ?? outcome.status})`,
    );
  }
  if (evidence && status !== 'rejected' && status !== undefined && !unrecorded) {
    broken.push(`I2: rolled back on evidence but the registry says ${status}`);
  }
  // I3: Succeeded only when promoted.
  if (outcome.status === 'SUCCEEDED' && (share !== 1 || (status !== undefined && status !== 'active'))) {
    broken.push(
      `I3: SUCCEEDED with the canary at ${(share * 100).toFixed(1)} % and registry status ${status}`,
    );
  }
  // I5: weights come from the policy, never from a malformed answer.
  const allowed = new Set([...stepWeights(policy), JSON.stringify({ VariantA: 100, VariantB: 0 })]);
  timeline.forEach((entry, index) => {
    if (entry.kind === 'update' && !allowed.has(JSON.stringify(entry.weights))) {
      broken.push(`I5: an update asked for ${JSON.stringify(entry.weights)}`);
    }
    if (entry.kind === 'judge' && entry.malformed) {
      // What the controller did with that answer: the next update, unless another judgement came first.
      const next = timeline.slice(index + 1).find((e) => e.kind === 'update' || e.kind === 'judge');
      if (next?.kind === 'update' && next.path !== 'rollback') {
        broken.push(
          `I5: after a malformed answer (${entry.malformed}) the weights moved to ${JSON.stringify(next.weights)}`,
        );
      }
    }
  });
  // I6: a decided candidate is never rolled out again, and keeps its status.
  if (starting === 'active' || starting === 'rejected') {
    if (
      timeline.some(
        (e) => e.kind === 'judge' || e.kind === 'lease' || (e.kind === 'update' && e.path === 'forward'),
      )
    ) {
      broken.push(`I6: a candidate decided ${starting} was rolled out again`);
    }
    if (status !== starting) broken.push(`I6: a candidate decided ${starting} ends ${status}`);
  }
  // I7: every failure a person must act on reached the topic.
  if (
    outcome.status === 'FAILED' &&
    outcome.errorName !== 'CanaryRejectedBefore' &&
    notifications.length === 0
  ) {
    broken.push(`I7: FAILED with ${outcome.errorName} and no alert`);
  }
  return broken;
}
