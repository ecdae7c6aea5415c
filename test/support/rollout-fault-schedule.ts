/**
 * Seeded random scenarios for the canary rollout world (test/support/canary-rollout.ts): a starting
 * registry status, traffic, how long updates take, and 0–4 faults drawn from FAULT_KINDS, each at a
 * random attempt number. The same seed always gives the same scenario, so a failing run replays.
 */
import { mulberry32 as seededRandom } from '../../scripts/seeded-random';
import { HEALTHY, type Scenario, type StartingStatus, type Traffic } from './canary-rollout';
import { MALFORMATIONS, type Fault, type UpdateEnding, type UpdatePath } from './simulated-endpoint';

/** One kind of fault: its name and how to place it at an attempt. */
interface FaultKind {
  readonly name: string;
  /** Highest attempt number it is placed at (uniform from 1). */
  readonly attempts: number;
  readonly at: (attempt: number) => Fault;
}

const PATHS: readonly UpdatePath[] = ['forward', 'rollback', 'restore'];
const ENDINGS: readonly UpdateEnding[] = ['rolling-back', 'failed', 'out-of-service', 'stuck', 'slow'];
const SAGEMAKER_ERRORS = ['SageMaker.ThrottlingException', 'SageMaker.AmazonSageMakerException'];
const PATH_ATTEMPTS: Record<UpdatePath, number> = { forward: 3, rollback: 3, restore: 2 };

/** Every fault kind the schedule draws from. */
export const FAULT_KINDS: readonly FaultKind[] = [
  ...PATHS.flatMap((path) =>
    [...SAGEMAKER_ERRORS, 'SageMaker.ValidationException'].map((error) => ({
      name: `update-error:${path}:${error}`,
      attempts: PATH_ATTEMPTS[path],
      at: (attempt: number): Fault => ({ kind: 'update-error', path, error, attempt }),
    })),
  ),
  ...PATHS.flatMap((path) =>
    ENDINGS.map((ending) => ({
      name: `update-ending:${path}:${ending}`,
      attempts: PATH_ATTEMPTS[path],
      at: (attempt: number): Fault => ({ kind: 'update-ending', path, ending, attempt }),
    })),
  ),
  ...SAGEMAKER_ERRORS.map((error) => ({
    name: `describe-error:${error}`,
    attempts: 12,
    at: (attempt: number): Fault => ({ kind: 'describe-error', error, attempt }),
  })),
  ...(['no-variants', 'no-canary-variant', 'system-updating', 'no-status'] as const).map((odd) => ({
    name: `describe-odd:${odd}`,
    attempts: 12,
    at: (attempt: number): Fault => ({ kind: 'describe-odd', odd, attempt }),
  })),
  ...[
    'Lambda.TooManyRequestsException',
    'Lambda.ServiceException',
    'Lambda.AWSLambdaException',
    'Lambda.SdkClientException',
    'Sandbox.Timedout',
    'InvalidJudgeInputError',
  ].map((error) => ({
    name: `judge-error:${error}`,
    attempts: 8,
    at: (attempt: number): Fault => ({ kind: 'judge-error', error, attempt }),
  })),
  ...MALFORMATIONS.map((malformation) => ({
    name: `judge-malformed:${malformation}`,
    attempts: 8,
    at: (attempt: number): Fault => ({ kind: 'judge-malformed', malformation, attempt }),
  })),
  ...(['ssm-get-error', 'ssm-put-error'] as const).flatMap((kind) => [
    ...['Ssm.ThrottlingException', 'Ssm.InternalServerErrorException'].map((error) => ({
      name: `${kind}:${error}`,
      attempts: 3,
      at: (attempt: number): Fault => ({ kind, error, attempt }),
    })),
    {
      // Down for longer than any retry: the Catch must take over.
      name: `${kind}:Ssm.InternalServerErrorException:repeated`,
      attempts: 3,
      at: (attempt: number): Fault => ({
        kind,
        error: 'Ssm.InternalServerErrorException',
        attempt,
        times: 8,
      }),
    },
  ]),
  ...['SNS.ThrottledException', 'SNS.InternalErrorException'].map((error) => ({
    name: `sns-error:${error}`,
    attempts: 2,
    at: (attempt: number): Fault => ({ kind: 'sns-error', error, attempt }),
  })),
  ...['Lambda.TooManyRequestsException', 'Lambda.ServiceException'].map((error) => ({
    name: `lease-error:${error}`,
    attempts: 4,
    at: (attempt: number): Fault => ({ kind: 'lease-error', error, attempt }),
  })),
  { name: 'abort', attempts: 40, at: (attempt: number): Fault => ({ kind: 'abort', attempt }) },
];

const STATUSES: readonly [StartingStatus, number][] = [
  ['candidate', 60],
  ['baseline', 5],
  ['active', 10],
  ['rejected', 10],
  ['missing', 5],
  ['retired', 5],
  ['no-status', 5],
];
const TRAFFIC: readonly [Traffic, number][] = [
  [HEALTHY, 60],
  [{ ...HEALTHY, canaryErrorRate: 0.05 }, 25],
  [{ perMinute: 0, baselineErrorRate: 0, canaryErrorRate: 0 }, 15],
];

function weighted<T>(random: () => number, choices: readonly [T, number][]): T {
  let pick = random() * choices.reduce((sum, [, weight]) => sum + weight, 0);
  for (const [value, weight] of choices) {
    pick -= weight;
    if (pick < 0) return value;
  }
  return choices[choices.length - 1][0];
}

/** The scenario of one seed. */
export function randomScenario(seed: number, maxFaults = 4): Scenario {
  const random = seededRandom(seed);
  const count = Math.floor(random() * (maxFaults + 1));
  const faults = Array.from({ length: count }, () => {
    const kind = FAULT_KINDS[Math.floor(random() * FAULT_KINDS.length)];
    return kind.at(1 + Math.floor(random() * kind.attempts));
  });
  return {
    startingStatus: weighted(random, STATUSES),
    traffic: weighted(random, TRAFFIC),
    updatingPolls: Math.floor(random() * 4),
    faults,
  };
}
