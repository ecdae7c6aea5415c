/**
 * The strategies the canary benchmark compares, each driving the world's Endpoint: the project's judge
 * and policy, and the fixed traffic-shifting schedules users would otherwise configure (SageMaker
 * deployment guardrails, CodeDeploy), all gated by the deployed canary alarms; the statistical
 * analyses (bench/canary-analyses.ts) and the oracle (bench/canary-oracle.ts) beside them.
 */
import { judge, latencyThresholds, type AlarmObservation } from '../services/rollout/judge';
import { nextWeights, type RolloutPolicy } from '../services/rollout/policy';
import { simulateArgo, simulateFlagger, simulateKayenta } from './canary-analyses';
import { simulateOracle } from './canary-oracle';
import { QUALITY_CLASSES } from './canary-quality';
import {
  Endpoint,
  JUDGE_OFFSET_MS,
  MINUTE_MS,
  preRolloutHour,
  WEIGHT_DELAY_MINUTES,
  type Ending,
  type Sim,
  type TrialResult,
} from './canary-world';

/** The fixed traffic-shifting schedules. */
export type ScheduleStrategy =
  'guardrails-canary' | 'guardrails-linear' | 'codedeploy-canary' | 'codedeploy-linear';

/** The strategies compared. */
export type Strategy = 'ours' | 'oracle' | 'kayenta' | 'argo' | 'flagger' | ScheduleStrategy;

/** Every strategy, in table order. */
export const STRATEGIES: readonly Strategy[] = [
  'ours',
  'oracle',
  'kayenta',
  'argo',
  'flagger',
  'guardrails-canary',
  'guardrails-linear',
  'codedeploy-canary',
  'codedeploy-linear',
];

const ALARM_NAMES = ['canary-5xx-rate', 'canary-p99-latency'] as const;

/** One rollout driven by the real judge and policy; the controller asks the judge once a minute. */
export function simulateOurs(sim: Sim, policy: RolloutPolicy): TrialResult {
  // As the handler does: the baseline's hour before the rollout, else its first published minute.
  const hour = preRolloutHour(sim);
  let reference = hour?.reference ?? null;
  const endpoint = new Endpoint(sim, reference ? latencyThresholds(policy, reference).values : []);
  let stepIndex = 0;
  let weights = nextWeights({ baseline: 100, canary: 0 }, 'promote', policy);
  let next = weights.canary / 100;
  let stepStartedAt = WEIGHT_DELAY_MINUTES * MINUTE_MS;
  const lastMinute = policy.deadlineMinutes + 5;
  for (let t = 0; t <= lastMinute; t++) {
    if (t > 0) {
      const states = endpoint.alarms(t);
      const alarms: AlarmObservation[] = [
        { name: ALARM_NAMES[0], state: states.errorRate ? 'ALARM' : 'OK' },
        { name: ALARM_NAMES[1], state: states.latency ? 'ALARM' : 'OK' },
      ];
      const { verdict, reason, summary } = judge(
        {
          alarms,
          periods: endpoint.visible(t),
          periodSeconds: 60,
          stepIndex,
          stepStartedAt,
          rolloutStartedAt: 0,
          latencyReference: reference,
          baselineHourBefore: hour?.minutes ?? [],
          quality: QUALITY_CLASSES,
        },
        policy,
        t * MINUTE_MS + JUDGE_OFFSET_MS,
      );
      if (verdict === 'rollback') {
        const before = endpoint.serveMinute(t, 0);
        const ending: Ending =
          summary.alarmsInAlarm.length > 0 ? 'alarm' : reason.startsWith('deadline') ? 'deadline' : 'judge';
        return {
          ending,
          minutes: t,
          minutesTo100: null,
          canaryRequests: endpoint.canaryServed + before,
          syntheticRequests: endpoint.synthetic,
          reason,
          canaryWeightAtVerdict: weights.canary,
        };
      }
      if (verdict === 'promote') {
        weights = nextWeights(weights, verdict, policy);
        next = weights.canary / 100;
        if (weights.canary === 100) {
          return {
            ending: 'promoted',
            minutes: t + WEIGHT_DELAY_MINUTES,
            minutesTo100: t + WEIGHT_DELAY_MINUTES,
            canaryRequests: endpoint.canaryServed,
            syntheticRequests: endpoint.synthetic,
            reason,
          };
        }
        stepIndex = policy.steps.indexOf(weights.canary);
        stepStartedAt = (t + WEIGHT_DELAY_MINUTES) * MINUTE_MS;
      }
    }
    endpoint.serveMinute(t, next);
    endpoint.canaryServed += endpoint.minutes[t].canaryRequests;
    const { p50, p99 } = endpoint.minutes[t].complete.baseline;
    if (!reference && p50 && p99) {
      reference = { p50, p99, periodStart: t * MINUTE_MS };
      endpoint.thresholds = latencyThresholds(policy, reference).values;
    }
  }
  return {
    ending: 'deadline',
    minutes: lastMinute,
    minutesTo100: null,
    canaryRequests: endpoint.canaryServed,
    syntheticRequests: endpoint.synthetic,
  };
}

/** A fixed traffic-shifting schedule (minute → canary share) and how long alarms are watched at 100 %. */
export interface Schedule {
  readonly steps: readonly { readonly minute: number; readonly share: number }[];
  readonly bakeMinutes: number;
}

/** CodeDeploy Canary10Percent5Minutes: 10 % for five minutes, then everything. */
export const CODEDEPLOY_CANARY: Schedule = {
  steps: [
    { minute: 0, share: 0.1 },
    { minute: 5, share: 1 },
  ],
  bakeMinutes: 0,
};

/** CodeDeploy Linear10PercentEvery1Minute: ten equal steps one minute apart. */
export const CODEDEPLOY_LINEAR: Schedule = {
  steps: Array.from({ length: 10 }, (_, i) => ({ minute: i, share: (i + 1) / 10 })),
  bakeMinutes: 0,
};

/**
 * SageMaker deployment guardrails, canary traffic shifting as users configure it: CanarySize 10 %,
 * WaitIntervalInSeconds 600, then the rest, and a 10-minute baking period (alarms still roll back).
 */
export const GUARDRAILS_CANARY: Schedule = {
  steps: [
    { minute: 0, share: 0.1 },
    { minute: 10, share: 1 },
  ],
  bakeMinutes: 10,
};

/** SageMaker guardrails linear shifting: 20 % steps, WaitIntervalInSeconds 300, 10-minute baking period. */
export const GUARDRAILS_LINEAR: Schedule = {
  steps: [0.2, 0.4, 0.6, 0.8, 1].map((share, i) => ({ minute: 5 * i, share })),
  bakeMinutes: 10,
};

export const SCHEDULES: Record<ScheduleStrategy, Schedule> = {
  'guardrails-canary': GUARDRAILS_CANARY,
  'guardrails-linear': GUARDRAILS_LINEAR,
  'codedeploy-canary': CODEDEPLOY_CANARY,
  'codedeploy-linear': CODEDEPLOY_LINEAR,
};

/** A fixed-schedule rollout, rolled back whenever a deployed canary alarm is in ALARM. */
export function simulateSchedule(sim: Sim, schedule: Schedule): TrialResult {
  const endpoint = new Endpoint(sim);
  let share = 0;
  let reached: number | null = null;
  const full = Math.max(...schedule.steps.map((s) => s.minute));
  const lastMinute = full + schedule.bakeMinutes;
  for (let t = 0; t <= lastMinute; t++) {
    const states = t > 0 ? endpoint.alarms(t) : { errorRate: false, latency: false };
    if (states.errorRate || states.latency) {
      const before = endpoint.serveMinute(t, 0);
      return {
        ending: reached === null ? 'alarm' : 'late-alarm',
        minutes: t,
        minutesTo100: reached,
        canaryRequests: endpoint.canaryServed + before,
        syntheticRequests: endpoint.synthetic,
      };
    }
    const target = schedule.steps.find((s) => s.minute === t)?.share;
    if (target !== undefined) share = target;
    if (share === 1 && reached === null) reached = t + WEIGHT_DELAY_MINUTES;
    if (t === lastMinute) break;
    endpoint.serveMinute(t, share);
    endpoint.canaryServed += endpoint.minutes[t].canaryRequests;
  }
  return {
    ending: 'promoted',
    minutes: reached ?? lastMinute,
    minutesTo100: reached,
    canaryRequests: endpoint.canaryServed,
    syntheticRequests: endpoint.synthetic,
  };
}

/** One rollout of `strategy` in the sim's world; `policy` is ours (and the steps Argo and the oracle walk). */
export function simulate(strategy: Strategy, sim: Sim, policy: RolloutPolicy): TrialResult {
  switch (strategy) {
    case 'ours':
      return simulateOurs(sim, policy);
    case 'oracle':
      return simulateOracle(sim, policy);
    case 'kayenta':
      return simulateKayenta(sim);
    case 'argo':
      return simulateArgo(sim, policy);
    case 'flagger':
      return simulateFlagger(sim, policy);
    default:
      return simulateSchedule(sim, SCHEDULES[strategy]);
  }
}
