/**
 * The canary benchmark's world: a SageMaker endpoint with two variants served one minute at a time
 * (Poisson traffic split by weight, overdispersed errors, lognormal latency), the rollout traffic
 * source, CloudWatch publishing late and partly aggregated minutes, and the deployed canary alarms.
 * Every strategy (bench/canary-strategies.ts) drives the same Endpoint.
 */
import {
  canaryAlarmsInAlarm,
  CANARY_ALARM_DEFAULTS,
  type CanaryAlarmMinute,
} from '../services/rollout/canary-alarms';
import type { BaselineMinute, LatencyReference, PeriodMetrics } from '../services/rollout/judge';
import { MIN_REFERENCE_SAMPLES } from '../services/rollout/latency-reference';
import type { RolloutPolicy } from '../services/rollout/policy';
import {
  DEV_ROLLOUT_TRAFFIC,
  PROD_ROLLOUT_TRAFFIC,
  requestsForMinute,
  type RolloutTrafficConfig,
  type TrafficMode,
} from '../services/traffic/config';
import { qualityMinute, DEFAULT_BASELINE_ACCURACY, type QualityShift } from './canary-quality';
import {
  binomial,
  latencyMinute,
  normalCdf,
  normalQuantile,
  percentileLevels,
  poisson,
  rateMultiplier,
} from './canary-sim';

export type { TrafficMode } from '../services/traffic/config';

/** How CloudWatch publishes: `ideal` (complete 60 s after close) or `realistic` (see USAGE). */
export type CloudWatchModel = 'realistic' | 'ideal';

/** The stages' traffic source defaults by mode: `always` is dev's, `top-up` prod's (services/traffic/config.ts). */
export const TRAFFIC_DEFAULTS: Readonly<Record<Exclude<TrafficMode, 'off'>, RolloutTrafficConfig>> =
  Object.freeze({ always: DEV_ROLLOUT_TRAFFIC, 'top-up': PROD_ROLLOUT_TRAFFIC });

/** A canary's true behaviour relative to the baseline. */
export interface Scenario {
  readonly name: string;
  readonly canaryError: number;
  /** Canary latency ÷ baseline latency at every quantile. */
  readonly latencyShift: number;
  /** Canary p99 ÷ baseline p99 with the median unchanged (on top of latencyShift). */
  readonly tailShift: number;
  /** How the canary's answers differ (accuracy, predicted classes); none: equally good. */
  readonly quality?: QualityShift;
}

/** How a trial ended. */
export type Ending = 'promoted' | 'judge' | 'alarm' | 'deadline' | 'late-alarm';

/** Outcome of one simulated rollout. */
export interface TrialResult {
  readonly ending: Ending;
  /** Minutes from rollout start to the rollback decision or to the canary serving 100 %. */
  readonly minutes: number;
  /** Minutes to 100 % when it was reached (also for late rollbacks). */
  readonly minutesTo100: number | null;
  /** Canary requests served until the rollback took effect (or until 100 %). */
  readonly canaryRequests: number;
  /** Synthetic requests the traffic source sent. */
  readonly syntheticRequests: number;
  /** The judge's reason for the final decision (ours only). */
  readonly reason?: string;
  /** The canary's weight (percent) when a rollback was decided (ours only). */
  readonly canaryWeightAtVerdict?: number;
}

/** The world every strategy of one row runs in. */
export interface World {
  readonly rate: number;
  readonly baselineError: number;
  readonly latencySigma: number;
  readonly overdispersion: number;
  /** The canary's CV of per-minute error-rate multipliers; default: `overdispersion`. */
  readonly canaryOverdispersion?: number;
  readonly cloudwatch: CloudWatchModel;
  readonly traffic: TrafficMode;
  /** The traffic source's rate in req/s; default: the mode's stage default (TRAFFIC_DEFAULTS). */
  readonly trafficRate?: number;
  /** The labelled stream in requests a minute (sent in every mode); default: the shipped one. */
  readonly labelledPerMinute?: number;
  /** Baseline accuracy on labelled rows; default DEFAULT_BASELINE_ACCURACY. */
  readonly baselineAccuracy?: number;
}

/** The standard ways a canary can differ from its baseline (error scenarios need a baseline rate). */
export function standardScenarios(baselineError: number, policy: RolloutPolicy): Scenario[] {
  const errors: Scenario[] =
    baselineError > 0
      ? [
          {
            name: 'bad-10x-errors',
            canaryError: Math.min(1, 10 * baselineError),
            latencyShift: 1,
            tailShift: 1,
          },
          { name: 'subtle-3x-errors', canaryError: 3 * baselineError, latencyShift: 1, tailShift: 1 },
          { name: 'errors-2x', canaryError: 2 * baselineError, latencyShift: 1, tailShift: 1 },
        ]
      : [];
  return [
    ...errors,
    { name: 'good', canaryError: baselineError, latencyShift: 1, tailShift: 1 },
    { name: 'latency-1.5x', canaryError: baselineError, latencyShift: 1.5, tailShift: 1 },
    {
      name: 'latency-at-threshold',
      canaryError: baselineError,
      latencyShift: policy.latencyRegressionRatio,
      tailShift: 1,
    },
    { name: 'tail-p99-2x', canaryError: baselineError, latencyShift: 1, tailShift: 2 },
  ];
}

/** A scenario is a regression (it should be rolled back) when its canary is worse in any way. */
export function isRegression(scenario: Scenario, baselineError: number): boolean {
  return (
    scenario.canaryError > baselineError ||
    scenario.latencyShift > 1 ||
    scenario.tailShift > 1 ||
    (scenario.quality?.accuracyDrop ?? 0) > 0 ||
    (scenario.quality?.labelShift ?? 0) > 0
  );
}

export const WEIGHT_DELAY_MINUTES = 0.5;
const Z99 = normalQuantile(0.99);
export const MINUTE_MS = 60_000;
/** The judge runs a few seconds after the minute (the state machine's bake timer). */
export const JUDGE_OFFSET_MS = 5_000;

export interface Sim {
  readonly world: World;
  readonly scenario: Scenario;
  readonly random: () => number;
  /** Median of the baseline's latency in ms: its true p99 is half the latency alarm threshold. */
  readonly medianMs: number;
}

/** One variant's minute before CloudWatch: the truth. */
interface TrueVariant {
  readonly n: number;
  readonly e: number;
  readonly p50: number | null;
  readonly p99: number | null;
  readonly atOrBelow: readonly number[] | null;
}

type QualityCounts = ReturnType<typeof qualityMinute>;

/** A minute as CloudWatch shows it over time. */
export interface PublishedMinute {
  /** Minute (from rollout start) from which the complete datapoint is visible. */
  readonly completeAt: number;
  /** Minute from which the partly aggregated datapoint is visible (realistic only). */
  readonly partialAt: number;
  readonly complete: PeriodMetrics;
  readonly partial: PeriodMetrics;
  readonly completeAlarm: CanaryAlarmMinute;
  readonly partialAlarm: CanaryAlarmMinute;
  /** Requests the canary really served (whatever CloudWatch shows). */
  readonly canaryRequests: number;
}

/** A variant's latency in ms at standard-normal level z (lognormal; the canary shifted and tail-stretched). */
export function latencyAt(sim: Sim, z: number, canary: boolean): number {
  const sigma = sim.world.latencySigma;
  if (!canary) return sim.medianMs * Math.exp(sigma * z);
  const tail = z > 0 ? (z * Math.log(sim.scenario.tailShift)) / Z99 : 0;
  return sim.scenario.latencyShift * sim.medianMs * Math.exp(sigma * z + tail);
}

/** P(latency ≤ v) of a variant: the inverse of latencyAt. */
export function latencyCdf(sim: Sim, v: number, canary: boolean): number {
  const sigma = sim.world.latencySigma;
  const y = Math.log(v / ((canary ? sim.scenario.latencyShift : 1) * sim.medianMs));
  const tail = canary && y > 0 ? Math.log(sim.scenario.tailShift) / Z99 : 0;
  return normalCdf(y / (sigma + tail));
}

interface MinuteLatency {
  readonly p50: number | null;
  readonly p99: number | null;
  readonly atOrBelow: readonly number[] | null;
}

function latencyOf(sim: Sim, n: number, canary: boolean, thresholds: readonly number[]): MinuteLatency {
  if (n <= 0) return { p50: null, p99: null, atOrBelow: null };
  const cdf = thresholds.map((v) => latencyCdf(sim, v, canary));
  const { u50, u99, atOrBelow } = latencyMinute(n, cdf, sim.random);
  return {
    p50: latencyAt(sim, normalQuantile(u50), canary),
    p99: latencyAt(sim, normalQuantile(u99), canary),
    atOrBelow: thresholds.length > 0 ? atOrBelow : null,
  };
}

/** What the handler reads of the hour before the rollout. */
export interface PreRolloutHour {
  readonly reference: LatencyReference;
  /** The baseline's per-minute Invocations and Invocation5XXErrors of that hour. */
  readonly minutes: readonly BaselineMinute[];
}

/**
 * The baseline's hour before the rollout, as the handler reads it: p50 and p99 of Poisson(3600 R)
 * requests and their errors, minute by minute with the world's overdispersion; null with fewer than
 * MIN_REFERENCE_SAMPLES requests (the handler then takes the first published rollout minute, as
 * simulateOurs does, and has no error rate before the rollout).
 */
export function preRolloutHour(sim: Sim): PreRolloutHour | null {
  const n = poisson(sim.world.rate * 3600, sim.random);
  if (n < MIN_REFERENCE_SAMPLES) return null;
  const { u50, u99 } = percentileLevels(n, sim.random);
  const minutes: BaselineMinute[] = [];
  for (let minute = 0, left = n; minute < 60; minute++) {
    // The hour's n requests, minute by minute (multinomial), each minute with its own rate multiplier.
    const invocations = minute === 59 ? left : binomial(left, 1 / (60 - minute), sim.random);
    left -= invocations;
    const rate = Math.min(1, sim.world.baselineError * rateMultiplier(sim.world.overdispersion, sim.random));
    // 1 % of datapoints missing, as in the rollout's minutes: the minute then drops out.
    if (sim.random() >= 0.01 || sim.world.cloudwatch === 'ideal') {
      minutes.push({ invocations, errors: Math.min(invocations, poisson(invocations * rate, sim.random)) });
    }
  }
  const reference = {
    p50: latencyAt(sim, normalQuantile(u50), false),
    p99: latencyAt(sim, normalQuantile(u99), false),
    periodStart: -60 * MINUTE_MS,
  };
  return { reference, minutes };
}

function serve(
  sim: Sim,
  mean: number,
  errorRate: number,
  canary: boolean,
  thresholds: readonly number[],
): TrueVariant {
  const n = poisson(mean, sim.random);
  if (n === 0) return { n: 0, e: 0, p50: null, p99: null, atOrBelow: null };
  const cv = canary ? (sim.world.canaryOverdispersion ?? sim.world.overdispersion) : sim.world.overdispersion;
  const rate = Math.min(1, errorRate * rateMultiplier(cv, sim.random));
  const e = Math.min(n, poisson(n * rate, sim.random));
  return { n, e, ...latencyOf(sim, n, canary, thresholds) };
}

function publish(
  sim: Sim,
  minute: number,
  a: TrueVariant & QualityCounts,
  b: TrueVariant & QualityCounts,
): PublishedMinute {
  const realistic = sim.world.cloudwatch === 'realistic';
  const delay = realistic ? 1 + Math.floor(sim.random() * 3) : 1;
  const missing = (): boolean => realistic && sim.random() < 0.01;
  const shown = (v: TrueVariant & QualityCounts) => {
    const invocations = v.n > 0 && !missing() ? v.n : null;
    const errors = v.n > 0 && !missing() ? v.e : null;
    const latency = v.n > 0 && !missing();
    return {
      invocations,
      errors,
      p50: latency ? v.p50 : null,
      p99: latency ? v.p99 : null,
      latencySamples: latency ? v.n : null,
      // Each PR(:v) is its own statistic: missing on its own, and aggregated on its own while partial.
      atOrBelow: latency && v.atOrBelow ? v.atOrBelow.map((c) => (missing() ? null : c)) : null,
      // The traffic source's and the predict function's counts: complete when the minute is (they are
      // published within the lease), each datapoint missing on its own.
      ...(missing() ? {} : { labelled: v.labelled, correct: v.correct }),
      predicted: v.predicted ? v.predicted.map((c) => (missing() ? null : c)) : null,
    };
  };
  const fraction = (value: number | null): number | null =>
    value === null ? null : Math.floor(value * (0.5 + 0.5 * sim.random()));
  const partialOf = (v: ReturnType<typeof shown>) => ({
    invocations: fraction(v.invocations),
    errors: fraction(v.errors),
    p50: v.p50,
    p99: v.p99,
    latencySamples: fraction(v.latencySamples),
    atOrBelow: v.atOrBelow ? v.atOrBelow.map(fraction) : null,
    predicted: v.predicted ? v.predicted.map(fraction) : null,
  });
  const cb = shown(b);
  const ca = shown(a);
  const complete: PeriodMetrics = { start: minute * MINUTE_MS, baseline: ca, canary: cb };
  const partial: PeriodMetrics = realistic
    ? { start: minute * MINUTE_MS, baseline: partialOf(ca), canary: partialOf(cb) }
    : complete;
  return {
    completeAt: minute + 1 + delay,
    partialAt: realistic ? minute + delay : minute + 1 + delay,
    complete,
    partial,
    canaryRequests: b.n,
    completeAlarm: { invocations: cb.invocations, errors: cb.errors, p99Ms: cb.p99 },
    partialAlarm: {
      invocations: partial.canary.invocations ?? null,
      errors: partial.canary.errors ?? null,
      p99Ms: partial.canary.p99 ?? null,
    },
  };
}

/** The synthetic requests the traffic source sends in one minute, by the source's own arithmetic. */
function syntheticThisMinute(world: World, organicPreviousMinute: number): number {
  const config: RolloutTrafficConfig =
    world.traffic === 'off' ? { mode: 'off', requestsPerSecond: 1 } : TRAFFIC_DEFAULTS[world.traffic];
  return requestsForMinute(
    {
      ...config,
      requestsPerSecond: world.trafficRate ?? config.requestsPerSecond,
      ...(world.labelledPerMinute === undefined
        ? {}
        : { labelledRequestsPerMinute: world.labelledPerMinute }),
    },
    organicPreviousMinute,
  );
}

/**
 * The endpoint as every strategy drives it: one minute at a time, weights changing WEIGHT_DELAY after a
 * decision, CloudWatch publishing as the world says, the deployed alarms evaluating every minute.
 */
export class Endpoint {
  readonly minutes: PublishedMinute[] = [];
  canaryServed = 0;
  synthetic = 0;
  private share = 0;
  private organicPrevious: number;

  constructor(
    private readonly sim: Sim,
    /** The latency thresholds whose counts CloudWatch is asked for (PR); none for the schedules. */
    public thresholds: readonly number[] = [],
  ) {
    this.organicPrevious = sim.world.rate * 60;
  }

  /** Serves minute t; the canary share becomes `next` at t + WEIGHT_DELAY. Returns canary requests before the change. */
  serveMinute(t: number, next: number): number {
    const { world, scenario } = this.sim;
    const organic = poisson(world.rate * 60, this.sim.random);
    const synthetic = syntheticThisMinute(world, this.organicPrevious);
    this.organicPrevious = organic;
    this.synthetic += synthetic;
    const perMinute = organic + synthetic;
    const change = next === this.share ? 1 : WEIGHT_DELAY_MINUTES;
    // Requests per variant are Poisson thinning of the minute's mean (organic is Poisson, synthetic a
    // steady stream; the split by weight is what matters to the judge).
    const meanB = perMinute * (this.share * change + next * (1 - change));
    const meanA = perMinute - meanB;
    const before = perMinute * this.share * change;
    const a = serve(this.sim, meanA, world.baselineError, false, this.thresholds);
    const b = serve(this.sim, meanB, scenario.canaryError, true, this.thresholds);
    const canaryBefore = meanB > 0 ? Math.round((b.n * before) / meanB) : 0;
    // Every synthetic request is a labelled row, split like the rest of the minute.
    const labelledB = perMinute > 0 ? binomial(synthetic, meanB / perMinute, this.sim.random) : 0;
    const accuracy = world.baselineAccuracy ?? DEFAULT_BASELINE_ACCURACY;
    const qa = qualityMinute(a.n, synthetic - labelledB, accuracy, null, this.sim.random);
    const qb = qualityMinute(b.n, labelledB, accuracy, scenario.quality ?? null, this.sim.random);
    this.minutes.push(publish(this.sim, t, { ...a, ...qa }, { ...b, ...qb }));
    this.share = next;
    return canaryBefore;
  }

  /** The periods the judge can read at minute t. */
  visible(t: number): PeriodMetrics[] {
    const out: PeriodMetrics[] = [];
    for (const m of this.minutes) {
      if (t >= m.completeAt) out.push(m.complete);
      else if (t >= m.partialAt) out.push(m.partial);
    }
    return out;
  }

  /** The deployed alarms' states at minute t. */
  alarms(t: number): { readonly errorRate: boolean; readonly latency: boolean } {
    const window: CanaryAlarmMinute[] = [];
    for (let m = t - CANARY_ALARM_DEFAULTS.evaluationPeriods; m < t; m++) {
      const minute = this.minutes[m];
      if (!minute || t < minute.partialAt) window.push({ invocations: null, errors: null, p99Ms: null });
      else window.push(t >= minute.completeAt ? minute.completeAlarm : minute.partialAlarm);
    }
    return canaryAlarmsInAlarm(window);
  }
}

export function simFor(world: World, scenario: Scenario, random: () => number): Sim {
  const medianMs = CANARY_ALARM_DEFAULTS.latencyP99Ms / 2 / Math.exp(world.latencySigma * Z99);
  return { world, scenario, random, medianMs };
}
