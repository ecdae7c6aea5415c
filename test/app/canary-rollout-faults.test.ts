import {
  buildRollout,
  HEALTHY,
  runRollout,
  VERSION_DOC,
  type Built,
  type Outcome,
  type Scenario,
} from '../support/canary-rollout';
import { checkInvariants } from '../support/rollout-invariants';
import { faultName, type Fault, type Malformation } from '../support/simulated-endpoint';
import { FAULT_KINDS, randomScenario } from '../support/rollout-fault-schedule';

const RUNS = Number(process.env.ROLLOUT_FAULT_RUNS ?? 100);
const FIRST_SEED = Number(process.env.ROLLOUT_FAULT_SEED ?? 1);

/** How an execution ended, for the summary: status and, for a failure, the error. */
function ending(outcome: Outcome): string {
  return outcome.status === 'FAILED' ? `FAILED ${outcome.errorName}` : outcome.status;
}

describe('CanaryRollout under faults', () => {
  let built: Built;
  beforeAll(() => {
    built = buildRollout();
  });

  it(
    `holds its invariants in ${RUNS} seeded executions (seeds ${FIRST_SEED}..${FIRST_SEED + RUNS - 1})`,
    async () => {
      const started = Date.now();
      const endings = new Map<string, number>();
      const kinds = new Set<string>();
      const failures: string[] = [];
      for (let seed = FIRST_SEED; seed < FIRST_SEED + RUNS; seed += 1) {
        const scenario = randomScenario(seed);
        for (const fault of scenario.faults ?? []) kinds.add(faultName(fault));
        const outcome = await runRollout(built.definition, scenario);
        endings.set(ending(outcome), (endings.get(ending(outcome)) ?? 0) + 1);
        const broken = checkInvariants(outcome);
        if (broken.length > 0) {
          failures.push(
            [
              `seed ${seed}: ${broken.join('; ')}`,
              `  schedule: ${JSON.stringify(scenario)}`,
              `  replay:   ROLLOUT_FAULT_SEED=${seed} ROLLOUT_FAULT_RUNS=1 npx jest test/app/canary-rollout-faults.test.ts -t seeded`,
            ].join('\n'),
          );
        }
      }
      const summary = [
        `${RUNS} seeded executions in ${((Date.now() - started) / 1000).toFixed(1)} s`,
        `fault kinds drawn: ${kinds.size} of ${FAULT_KINDS.length}`,
        ...[...endings].sort((a, b) => b[1] - a[1]).map(([end, n]) => `  ${n}\t${end}`),
      ].join('\n');
      process.stdout.write(`${summary}\n`);
      expect(failures).toEqual([]);
    },
    Math.max(60_000, RUNS * 2_000),
  );

  describe('the findings of the fault-injection review (issue 23), one scenario each', () => {
    const BAD: Scenario['traffic'] = { ...HEALTHY, canaryErrorRate: 0.05 };
    /** The judge call that first answers promote on a healthy canary (the malformed answers replace it). */
    let firstPromote: number;
    beforeAll(async () => {
      const healthy = await runRollout(built.definition, { traffic: HEALTHY });
      firstPromote =
        healthy.timeline
          .filter((e) => e.kind === 'judge')
          .findIndex((e) => e.kind === 'judge' && e.verdict === 'promote') + 1;
      expect(firstPromote).toBeGreaterThan(0);
    });

    async function run(scenario: Scenario): Promise<Outcome> {
      const outcome = await runRollout(built.definition, scenario);
      expect(checkInvariants(outcome)).toEqual([]);
      return outcome;
    }
    const malformed = (malformation: Malformation): Fault => ({
      kind: 'judge-malformed',
      malformation,
      attempt: firstPromote,
    });
    const registry = (outcome: Outcome): unknown =>
      (JSON.parse(outcome.parameters.get(VERSION_DOC) ?? '{}') as { status?: string }).status;
    const subjects = (outcome: Outcome): string[] => outcome.notifications.map((n) => n.Subject ?? '');

    it.each<Malformation>([
      'missing-verdict',
      'missing-weights',
      'missing-next-step-index',
      'missing-done',
      'weights-without-canary',
    ])(
      '1. a malformed answer (%s) rolls back with an alert instead of stopping at a partial weight',
      async (malformation) => {
        const outcome = await run({ traffic: HEALTHY, faults: [malformed(malformation)] });
        expect(outcome.errorName).toBe('CanaryRolloutFailed');
        expect(outcome.endpoint.canaryShare()).toBe(0);
        expect(subjects(outcome)).toEqual(['Canary rollout failed: v2']);
        expect(registry(outcome)).toBe('candidate');
      },
    );

    it.each<Malformation>(['done-at-partial-weight', 'relative-weights'])(
      '2. a malformed answer (%s) never promotes or shifts weight',
      async (malformation) => {
        const outcome = await run({ traffic: HEALTHY, faults: [malformed(malformation)] });
        expect(outcome.status).toBe('FAILED');
        expect(outcome.endpoint.updates.map((u) => u.VariantB)).toEqual([10, 0]);
        expect(registry(outcome)).toBe('candidate');
      },
    );

    it('3a. a weight change SageMaker rolled back is not taken as applied', async () => {
      const outcome = await run({
        traffic: HEALTHY,
        faults: [{ kind: 'update-ending', path: 'forward', ending: 'rolling-back', attempt: 3 }],
      });
      expect(outcome.errorName).toBe('CanaryRolloutFailed');
      expect(outcome.error?.message).toMatch(/does not serve the weights asked/);
      expect(outcome.endpoint.canaryShare()).toBe(0);
      expect(registry(outcome)).toBe('candidate');
    });

    it('3b. a rollback SageMaker rolled back is asked again, and only then said done', async () => {
      const outcome = await run({
        traffic: BAD,
        faults: [{ kind: 'update-ending', path: 'rollback', ending: 'rolling-back', attempt: 1 }],
      });
      expect(outcome.errorName).toBe('CanaryRolledBack');
      expect(outcome.endpoint.updates.filter((u) => u.VariantB === 0)).toHaveLength(2);
      expect(outcome.endpoint.canaryShare()).toBe(0);
      expect(registry(outcome)).toBe('rejected');
    });

    it('3c. a rollback that ends Failed is reported as incomplete, not as "VariantA serves 100 %"', async () => {
      const outcome = await run({
        traffic: BAD,
        faults: [{ kind: 'update-ending', path: 'rollback', ending: 'failed', attempt: 1 }],
      });
      expect(outcome.errorName).toBe('CanaryRollbackIncomplete');
      expect(subjects(outcome)).toEqual(['Canary rollback FAILED: v2']);
      expect(outcome.notifications.some((n) => /serves 100 %/.test(n.Message))).toBe(false);
      expect(registry(outcome)).toBe('candidate');
    });

    it('4. a weight change stuck Updating is given up at its bound: rollback path and an alert, no timeout', async () => {
      const outcome = await run({
        traffic: HEALTHY,
        faults: [{ kind: 'update-ending', path: 'forward', ending: 'stuck', attempt: 2 }],
      });
      expect(outcome.errorName).toBe('CanaryRollbackIncomplete');
      expect(outcome.error?.message).not.toMatch(/Timeout/);
      expect(subjects(outcome)).toEqual(['Canary rollback FAILED: v2']);
    });

    it('5a. a throttled alert is retried: an incomplete rollback always reaches the topic', async () => {
      const outcome = await run({
        traffic: HEALTHY,
        faults: [
          { kind: 'update-ending', path: 'forward', ending: 'failed', attempt: 1 },
          { kind: 'sns-error', error: 'SNS.ThrottledException', attempt: 1 },
        ],
      });
      expect(outcome.errorName).toBe('CanaryRollbackIncomplete');
      expect(subjects(outcome)).toEqual(['Canary rollback FAILED: v2']);
    });

    it('5b. a promotion the registry cannot record is undone, with an alert, never left at canary 100 % as candidate', async () => {
      const outcome = await run({
        traffic: HEALTHY,
        faults: [{ kind: 'ssm-put-error', error: 'Ssm.InternalServerErrorException', attempt: 1, times: 8 }],
      });
      expect(outcome.errorName).toBe('CanaryRolloutFailed');
      expect(outcome.endpoint.canaryShare()).toBe(0);
      expect(registry(outcome)).toBe('candidate');
      expect(subjects(outcome)).toEqual(['Canary rollout failed: v2']);
    });

    it.each(['rejected', 'active'] as const)(
      '6. a registry that cannot be read fails with an alert; a candidate decided %s is not rolled out again',
      async (startingStatus) => {
        const outcome = await run({
          traffic: HEALTHY,
          startingStatus,
          faults: [{ kind: 'ssm-get-error', error: 'Ssm.ThrottlingException', attempt: 1, times: 8 }],
        });
        expect(outcome.errorName).toBe('CanaryRegistryUnreadable');
        expect(outcome.endpoint.updates).toEqual([]);
        expect(registry(outcome)).toBe(startingStatus);
        expect(subjects(outcome)).toEqual(['Canary rollout not started: v2']);
      },
    );

    it('7. restoring a promoted candidate waits for InService and reads the weights back: a restore that ends Failed does not succeed', async () => {
      const outcome = await run({
        traffic: HEALTHY,
        startingStatus: 'active',
        faults: [{ kind: 'update-ending', path: 'restore', ending: 'failed', attempt: 1 }],
      });
      expect(outcome.status).toBe('FAILED');
      expect(outcome.errorName).toBe('CanaryRestoreIncomplete');
      expect(subjects(outcome)).toEqual(['Canary promotion not restored: v2']);
    });

    it('8a. one DescribeEndpoint error during a shift is retried, not a rollback of an endpoint still updating', async () => {
      const outcome = await run({
        traffic: HEALTHY,
        updatingPolls: 2,
        faults: [{ kind: 'describe-error', error: 'SageMaker.AmazonSageMakerException', attempt: 1 }],
      });
      expect(outcome.status).toBe('SUCCEEDED');
      expect(registry(outcome)).toBe('active');
    });

    it('8b. a DescribeEndpoint that keeps failing costs polls within the bound, not a rollback', async () => {
      const outcome = await run({
        traffic: HEALTHY,
        updatingPolls: 2,
        faults: [1, 2, 3, 4, 5, 6].map((attempt): Fault => ({
          kind: 'describe-error',
          error: 'SageMaker.AmazonSageMakerException',
          attempt,
        })),
      });
      expect(outcome.status).toBe('SUCCEEDED');
      expect(registry(outcome)).toBe('active');
    });

    it('8c. a throttled judge (reserved concurrency) is retried, not taken as evidence', async () => {
      const outcome = await run({
        traffic: HEALTHY,
        faults: [{ kind: 'judge-error', error: 'Lambda.TooManyRequestsException', attempt: 1 }],
      });
      expect(outcome.status).toBe('SUCCEEDED');
      expect(registry(outcome)).toBe('active');
    });

    it('8d. a judge that fails for good rolls back without marking the candidate rejected', async () => {
      const outcome = await run({
        traffic: HEALTHY,
        faults: [{ kind: 'judge-error', error: 'InvalidJudgeInputError', attempt: 1 }],
      });
      expect(outcome.errorName).toBe('CanaryRolloutFailed');
      expect(outcome.endpoint.canaryShare()).toBe(0);
      expect(registry(outcome)).toBe('candidate');
    });
  });
});
