import { Match } from 'aws-cdk-lib/assertions';
import type { AlarmStateValue } from '../../services/rollout/judge';
import {
  ACCOUNT,
  ACTIVE,
  BASELINE,
  buildRollout as build,
  CANDIDATE,
  CANDIDATE_DOC,
  ENDPOINT,
  HEALTHY,
  POLICY,
  PREFIX,
  REGION,
  runRollout,
  VERSION_DOC,
  type Built,
  type Outcome,
  type StartingStatus,
  type TimelineEntry,
  type Traffic,
} from '../support/canary-rollout';
import type { Fault } from '../support/simulated-endpoint';
import { expectValidAsl, resolveIntrinsics } from '../support/state-machine';

/** One hand-picked situation (the fault-injection test, canary-rollout-faults.test.ts, draws them at random). */
interface Scenario {
  readonly traffic: Traffic;
  readonly alarmState?: (canaryWeight: number) => AlarmStateValue;
  readonly updatingPolls?: number;
  /** The first `throttles` forward weight updates are throttled. */
  readonly throttles?: number;
  /** Status in the candidate's registry document before the run. @default 'candidate' */
  readonly candidateStatus?: StartingStatus;
  /** 1-based number of the forward update after which the endpoint ends up `Failed`. */
  readonly failAfterUpdate?: number;
  /** Endpoint weights before the run. @default baseline 100 / canary 0 */
  readonly initialWeights?: Record<string, number>;
  /** 1-based number of the forward weight update SageMaker refuses (not throttling). */
  readonly refuseUpdate?: number;
  /** The judge fails (not transiently) at this 1-based call. */
  readonly judgeFailsAt?: number;
  /** The execution is aborted during this 1-based judge call. */
  readonly abortAtJudgeCall?: number;
}

/** Runs the synthesized definition in the simulated world (test/support/canary-rollout.ts). */
function execute(definition: Record<string, unknown>, scenario: Scenario): Promise<Outcome> {
  const faults: Fault[] = [
    ...Array.from({ length: scenario.throttles ?? 0 }, (_, i): Fault => ({
      kind: 'update-error',
      path: 'forward',
      error: 'SageMaker.ThrottlingException',
      attempt: i + 1,
    })),
  ];
  if (scenario.failAfterUpdate) {
    faults.push({
      kind: 'update-ending',
      path: 'forward',
      ending: 'failed',
      attempt: scenario.failAfterUpdate,
    });
  }
  if (scenario.refuseUpdate) {
    faults.push({
      kind: 'update-error',
      path: 'forward',
      error: 'SageMaker.ValidationException',
      attempt: scenario.refuseUpdate,
    });
  }
  if (scenario.judgeFailsAt) {
    faults.push({ kind: 'judge-error', error: 'InvalidJudgeInputError', attempt: scenario.judgeFailsAt });
  }
  if (scenario.abortAtJudgeCall)
    faults.push({ kind: 'abort', on: 'judge', attempt: scenario.abortAtJudgeCall });
  return runRollout(definition, {
    traffic: scenario.traffic,
    alarmState: scenario.alarmState,
    updatingPolls: scenario.updatingPolls,
    startingStatus: scenario.candidateStatus,
    initialWeights: scenario.initialWeights,
    faults,
  });
}

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
  expect(outcome.errorName).toBe('CanaryRolledBack');
  expect(outcome.error?.message).toMatch(reason);
  expect(outcome.endpoint.weights).toEqual({ VariantA: 100, VariantB: 0 });
  expect(outcome.endpoint.updates.at(-1)).toEqual({ VariantA: 100, VariantB: 0 });
  expect(versionDoc(outcome)).toEqual({ ...CANDIDATE_DOC, status: 'rejected' });
  expect(outcome.parameters.has(ACTIVE)).toBe(false);
  expect(outcome.notifications).toHaveLength(1);
  expect(outcome.notifications[0].Message).toMatch(reason);
  expectFullyBaselineOrPromoted(outcome);
}

/** Stopped without a verdict on the candidate: baseline 100 % read back, registry untouched, topic told. */
function expectStoppedWithoutVerdict(outcome: Outcome, reason: RegExp): void {
  expect(outcome.errorName).toBe('CanaryRolloutFailed');
  expect(outcome.error?.message).toMatch(reason);
  expect(outcome.endpoint.weights).toEqual({ VariantA: 100, VariantB: 0 });
  expect(versionDoc(outcome)).toEqual(CANDIDATE_DOC);
  expect(outcome.parameters.has(ACTIVE)).toBe(false);
  expect(outcome.notifications.map((n) => n.Subject)).toEqual([`Canary rollout failed: ${CANDIDATE}`]);
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

    it('has no loop that is not bounded by a poll count or the judge (whose deadline ends it)', () => {
      type State = {
        Next?: string;
        Default?: string;
        Choices?: { Next: string }[];
        Catch?: { Next: string }[];
      };
      const states = built.definition.States as Record<string, State>;
      const bounded = (name: string) => /^Count\w+Poll$/.test(name) || name === 'AskJudge';
      const next = (state: State) =>
        [
          state.Next,
          state.Default,
          ...(state.Choices ?? []).map((c) => c.Next),
          ...(state.Catch ?? []).map((c) => c.Next),
        ].filter((n): n is string => n !== undefined && !bounded(n));
      // Without the bounded states the graph must be acyclic: depth-first search for a back edge.
      const colour = new Map<string, 'open' | 'done'>();
      const cycleFrom = (name: string): string[] | undefined => {
        colour.set(name, 'open');
        for (const n of next(states[name])) {
          if (colour.get(n) === 'open') return [name, n];
          const found = colour.has(n) ? undefined : cycleFrom(n);
          if (found) return [name, ...found];
        }
        colour.set(name, 'done');
        return undefined;
      };
      const cycles = Object.keys(states)
        .filter((name) => !bounded(name) && !colour.has(name))
        .map(cycleFrom)
        .filter((c) => c !== undefined);
      expect(cycles).toEqual([]);
      expect(
        Object.keys(states)
          .filter((name) => /^Count\w+Poll$/.test(name))
          .sort(),
      ).toEqual(['CountRestorePoll', 'CountRollbackPoll', 'CountStepPoll']);
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
      expect(outcome.timeline[1]).toEqual({
        kind: 'update',
        path: 'forward',
        weights: { VariantA: 90, VariantB: 10 },
      });
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
      // A bake a minute each; the first step's polls take simulated time too.
      expect(outcome.verdicts.filter((v) => v === 'wait').length).toBeGreaterThanOrEqual(
        POLICY.deadlineMinutes - 3,
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

  it('alerts when the endpoint ends up Failed after a weight shift: SageMaker refuses the rollback', async () => {
    const outcome = await execute(built.definition, { traffic: HEALTHY, failAfterUpdate: 2 });
    expect(outcome.endpoint.updates).toEqual([
      { VariantA: 90, VariantB: 10 },
      { VariantA: 50, VariantB: 50 },
    ]);
    expect(outcome.errorName).toBe('CanaryRollbackIncomplete');
    expect(outcome.notifications.map((n) => n.Subject)).toEqual([`Canary rollback FAILED: ${CANDIDATE}`]);
    expect(outcome.notifications[0].Message).toMatch(
      /the endpoint is Failed and does not serve the weights asked/,
    );
    // Not evidence against the candidate: its registry status is left for the next run.
    expect(versionDoc(outcome)).toEqual(CANDIDATE_DOC);
  });

  it("records a rejected candidate's archive SHA-256 where the registry guard looks it up", async () => {
    const sha256 = 'c0'.repeat(32);
    const { definition } = build({ candidateArchiveSha256: sha256 });
    const outcome = await execute(definition, { traffic: { ...HEALTHY, canaryErrorRate: 0.05 } });
    expectRolledBack(outcome, /canary 5xx rate is significantly higher than baseline/);
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
      expect(outcome.errorName).toBe('CanaryRejectedBefore');
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
        { traffic: HEALTHY, judgeFailsAt: 2 },
        (o) => expectStoppedWithoutVerdict(o, /the judge failed: InvalidJudgeInputError/),
      ],
      [
        'a failed weight update',
        { traffic: HEALTHY, refuseUpdate: 2 },
        (o) => expectStoppedWithoutVerdict(o, /the weight update failed: SageMaker\.ValidationException/),
      ],
      [
        'the endpoint Failed',
        { traffic: HEALTHY, failAfterUpdate: 2 },
        (o) => expect(o.errorName).toBe('CanaryRollbackIncomplete'),
      ],
      [
        'an abort (no Catch runs)',
        { traffic: HEALTHY, abortAtJudgeCall: 2 },
        (o) => {
          expect(o.status).toBe('ABORTED');
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
