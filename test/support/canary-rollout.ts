/**
 * A world for the canary rollout state machine: the synthesized definition run by aws-local-stepfunctions
 * against a simulated SageMaker endpoint (status, CurrentWeight/DesiredWeight, how an update ends), SSM,
 * SNS, the traffic source and the real judge handler over simulated CloudWatch, on a simulated clock.
 * Faults are injected by attempt number (the n-th call of a kind fails, the n-th accepted update ends
 * badly, the n-th judge answer is malformed; test/support/simulated-endpoint.ts); the controller's
 * promises over what the world looks like at the end are test/support/rollout-invariants.ts.
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
import { createRolloutPolicy } from '../../services/rollout/policy';
import { tempOutdir } from './cdk-app';
import { lognormalAtOrBelow } from './sagemaker-metrics';
import {
  BASELINE_VARIANT,
  CANARY_VARIANT,
  ENDPOINT,
  faultName,
  malform,
  NamedError,
  SimulatedEndpoint,
  type Fault,
  type Malformation,
  type UpdatePath,
  without,
} from './simulated-endpoint';
import { stateMachineDefinition, type JsonValue, type TaskHandlers } from './state-machine';

export { ENDPOINT };

export const ACCOUNT = '123456789012';
export const REGION = 'eu-west-1';
export const PREFIX = '/mlinference/dev/model';
export const CANDIDATE = 'v2';
export const BASELINE = 'v1';
export const ACTIVE = `${PREFIX}/active-version`;
export const VERSION_DOC = `${PREFIX}/versions/${CANDIDATE}`;
const MINUTE = 60_000;

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
