/**
 * The rollout traffic source's configuration and its per-minute arithmetic (docs/ROLLOUT.md,
 * "Traffic source"). Pure: stage config, the Lambda handler, the CLI and the benchmark share it.
 */

/** When the traffic source sends requests during a rollout. */
export type TrafficMode = 'off' | 'always' | 'top-up';

/** Per-stage traffic source settings (`rolloutTraffic` in bin/config.ts). */
export interface RolloutTrafficConfig {
  /**
   * `off`: never; `always`: `requestsPerSecond` for the whole rollout (dev, where nobody calls);
   * `top-up`: only what the previous complete minute's organic requests lacked below the floor.
   */
  readonly mode: TrafficMode;
  /** Highest rate it sends at, requests per second (at most {@link MAX_TRAFFIC_RATE}). */
  readonly requestsPerSecond: number;
  /** `top-up` only: organic requests per minute below which it tops up. */
  readonly floorRequestsPerMinute?: number;
  /**
   * The labelled stream: the least it sends every minute of a rollout, in every mode (`off`
   * included) and whatever the organic rate, so the judge always has labelled answers to weigh the
   * candidate's accuracy on. Every replayed row carries its label, so every request it sends counts.
   * 0 turns it off (the judge then has no accuracy evidence). @default DEFAULT_LABELLED_REQUESTS_PER_MINUTE
   */
  readonly labelledRequestsPerMinute?: number;
}

/**
 * One labelled request a second: at 98 % baseline accuracy it rolls a label-shifted candidate back
 * within the first step (a 5 % canary gets 3 labelled answers a minute), and costs about $0.02 an
 * hour of rollout (docs/ROLLOUT.md, "What it costs").
 */
export const DEFAULT_LABELLED_REQUESTS_PER_MINUTE = 60;

/** The longest window one lease buys, in seconds (the traffic function's timeout leaves room to finish). */
export const MAX_WINDOW_SECONDS = 60;

/** Hard cap on the configured rate: a misconfiguration cannot turn the source into a load test. */
export const MAX_TRAFFIC_RATE = 20;

/**
 * Dev has no users: drive every rollout with 20 requests per second (the cap), what a verdict within
 * minutes needs (`npm run bench:canary -- --policy dev --traffic always --rate 0`: a good candidate at
 * 100 % in a median of ~12 min, a 10× one rolled back in ~6; docs/ROLLOUT.md has the cost).
 */
export const DEV_ROLLOUT_TRAFFIC: RolloutTrafficConfig = Object.freeze({
  mode: 'always',
  requestsPerSecond: 20,
});

/**
 * Prod tops up thin hours to 360 requests per minute, at most 6 per second: a 0.2 req/s night promotes
 * a good candidate in a median of 37.5 min, against 51.5 with 240/min once the judge also weighs
 * prediction quality (`--traffic top-up --rate 0.2`, 500-1000 trials).
 */
export const PROD_ROLLOUT_TRAFFIC: RolloutTrafficConfig = Object.freeze({
  mode: 'top-up',
  requestsPerSecond: 6,
  floorRequestsPerMinute: 360,
});

/**
 * Problems of a traffic configuration, each naming the field and what to change; empty when usable.
 * `apiRateLimit` is the stage's API throttle: the source must leave room for users under it.
 */
export function trafficConfigProblems(config: RolloutTrafficConfig, apiRateLimit?: number): string[] {
  const problems: string[] = [];
  if (!['off', 'always', 'top-up'].includes(config.mode)) {
    problems.push(`mode: '${String(config.mode)}' must be 'off', 'always' or 'top-up'`);
  }
  const rate = config.requestsPerSecond;
  if (!(typeof rate === 'number' && rate > 0 && rate <= MAX_TRAFFIC_RATE)) {
    problems.push(`requestsPerSecond: ${String(rate)} must be more than 0 and at most ${MAX_TRAFFIC_RATE}`);
  } else if (apiRateLimit !== undefined && rate > apiRateLimit / 2) {
    problems.push(
      `requestsPerSecond: ${rate} must be at most half the API throttle rate (${apiRateLimit}/s), so users keep room`,
    );
  }
  const floor = config.floorRequestsPerMinute;
  if (config.mode === 'top-up' && !(Number.isInteger(floor) && (floor ?? 0) >= 1)) {
    problems.push(`floorRequestsPerMinute: ${String(floor)} must be a whole number >= 1 with mode 'top-up'`);
  }
  const labelled = config.labelledRequestsPerMinute;
  if (
    labelled !== undefined &&
    !(Number.isInteger(labelled) && labelled >= 0 && labelled <= MAX_TRAFFIC_RATE * 60)
  ) {
    problems.push(
      `labelledRequestsPerMinute: ${String(labelled)} must be a whole number in [0, ${MAX_TRAFFIC_RATE * 60}] (0 turns the labelled stream off)`,
    );
  } else if (labelled !== undefined && apiRateLimit !== undefined && labelled > (apiRateLimit / 2) * 60) {
    problems.push(
      `labelledRequestsPerMinute: ${labelled} must be at most half the API throttle rate (${apiRateLimit}/s × 60), so users keep room`,
    );
  }
  if (config.mode !== 'top-up' && floor !== undefined) {
    problems.push(`floorRequestsPerMinute: only used with mode 'top-up'; remove it or change the mode`);
  }
  return problems;
}

/**
 * Requests to send in the coming minute: at least the labelled stream
 * (`labelledRequestsPerMinute`), and more as the mode says: `always` sends `requestsPerSecond × 60`;
 * `top-up` sends `min(requestsPerSecond × 60, max(0, floor − organic))` where `organic` is the
 * previous complete minute's organic requests. Unknown organic traffic (no datapoint yet) counts as
 * none: the floor is what the judge needs, and the rate cap bounds the cost.
 */
export function requestsForMinute(
  config: RolloutTrafficConfig,
  organicPreviousMinute: number | undefined,
): number {
  return Math.max(
    config.labelledRequestsPerMinute ?? DEFAULT_LABELLED_REQUESTS_PER_MINUTE,
    modeRequestsForMinute(config, organicPreviousMinute),
  );
}

function modeRequestsForMinute(
  config: RolloutTrafficConfig,
  organicPreviousMinute: number | undefined,
): number {
  const cap = Math.floor(config.requestsPerSecond * 60);
  switch (config.mode) {
    case 'off':
      return 0;
    case 'always':
      return cap;
    case 'top-up': {
      const missing = (config.floorRequestsPerMinute ?? 0) - Math.max(0, organicPreviousMinute ?? 0);
      return Math.min(cap, Math.max(0, Math.ceil(missing)));
    }
  }
}
