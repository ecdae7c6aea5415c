/**
 * Canary rollout benchmark: simulates per-minute CloudWatch metrics of a SageMaker endpoint with two
 * variants and drives the project's real judge and policy, the stage's deployed canary alarms, and the
 * traffic-shifting strategies users would otherwise configure (SageMaker deployment guardrails,
 * CodeDeploy) through the same traffic and the same alarms.
 *
 * Run `npm run bench:canary -- --help` for the flags; the JSON schema is in docs/ROLLOUT.md.
 */
import {
  canaryAlarmsInAlarm,
  CANARY_ALARM_DEFAULTS,
  type CanaryAlarmMinute,
} from '../services/rollout/canary-alarms';
import {
  judge,
  latencyThresholds,
  type AlarmObservation,
  type BaselineMinute,
  type LatencyReference,
  type PeriodMetrics,
} from '../services/rollout/judge';
import { MIN_REFERENCE_SAMPLES } from '../services/rollout/latency-reference';
import {
  DEV_ROLLOUT_POLICY,
  nextWeights,
  PROD_ROLLOUT_POLICY,
  type RolloutPolicy,
} from '../services/rollout/policy';
import { mulberry32 } from '../scripts/seeded-random';
import {
  binomial,
  latencyMinute,
  normalCdf,
  normalQuantile,
  percentileLevels,
  poisson,
  rateMultiplier,
} from './canary-sim';

export { poisson } from './canary-sim';

/** The strategies compared. */
export type Strategy =
  'ours' | 'guardrails-canary' | 'guardrails-linear' | 'codedeploy-canary' | 'codedeploy-linear';

/** Every strategy, in table order. */
export const STRATEGIES: readonly Strategy[] = [
  'ours',
  'guardrails-canary',
  'guardrails-linear',
  'codedeploy-canary',
  'codedeploy-linear',
];

/** How CloudWatch publishes: `ideal` (complete 60 s after close) or `realistic` (see USAGE). */
export type CloudWatchModel = 'realistic' | 'ideal';

/** The rollout traffic source (docs/ROLLOUT.md, contract defaults). */
export type TrafficMode = 'off' | 'always' | 'top-up';

/** The contract's traffic defaults: dev `always` 5 req/s; prod `top-up` below 120/min, at most 2 req/s. */
export const TRAFFIC_DEFAULTS = Object.freeze({
  always: Object.freeze({ requestsPerSecond: 5 }),
  'top-up': Object.freeze({ requestsPerSecond: 2, floorRequestsPerMinute: 120 }),
});

/** A canary's true behaviour relative to the baseline. */
export interface Scenario {
  readonly name: string;
  readonly canaryError: number;
  /** Canary latency ÷ baseline latency at every quantile. */
  readonly latencyShift: number;
  /** Canary p99 ÷ baseline p99 with the median unchanged (on top of latencyShift). */
  readonly tailShift: number;
}

/** One line of the result table; `null` where a figure does not apply to the scenario. */
export interface BenchRow {
  readonly strategy: Strategy;
  readonly scenario: string;
  readonly rate: number;
  readonly baselineError: number;
  readonly latencySigma: number;
  readonly overdispersion: number;
  /** The canary's CV when it differs from the baseline's (`--canary-overdispersion`), else `overdispersion`. */
  readonly canaryOverdispersion: number;
  readonly cloudwatch: CloudWatchModel;
  readonly traffic: TrafficMode;
  readonly policy: 'prod' | 'dev';
  readonly trials: number;
  /** Regressions: share rolled back by the judge or an alarm BEFORE the canary reached 100 %. */
  readonly detectionRate: number | null;
  readonly medianMinutesToDetect: number | null;
  readonly medianCanaryRequestsBeforeRollback: number | null;
  /** Non-regressions: share rolled back by anything (judge, alarm, deadline, after 100 %). */
  readonly falseRollbackRate: number | null;
  /** Non-regressions: median minutes from rollout start to the canary serving 100 % (promoted trials). */
  readonly medianMinutesTo100: number | null;
  /** Share rolled back because the deadline passed. */
  readonly deadlineRate: number;
  /** Share that reached 100 % and stayed there. */
  readonly promotedRate: number;
  /** Share rolled back after reaching 100 % (guardrails' baking period). */
  readonly lateRollbackRate: number;
  /** Median minutes to any verdict (promoted at 100 % or rolled back). */
  readonly medianMinutesToVerdict: number;
  /** Median synthetic requests the traffic source sent per rollout (0 with traffic off). */
  readonly medianSyntheticRequests: number;
}

/** Command-line options after parsing. */
export interface BenchOptions {
  readonly rate: number;
  readonly baselineError: number;
  readonly canaryError?: number;
  readonly latencyShift?: number;
  readonly tailShift?: number;
  readonly latencySigma: number;
  readonly overdispersion: number;
  /** The canary's own CV (a candidate whose errors burst differently); default: `overdispersion`. */
  readonly canaryOverdispersion?: number;
  readonly cloudwatch: CloudWatchModel;
  readonly traffic: TrafficMode;
  readonly policy: 'prod' | 'dev';
  readonly trials: number;
  readonly seed: number;
  readonly strategies: readonly Strategy[];
  /** Run the false-rollback grid (good canaries, ours) instead of the scenario table. */
  readonly grid: boolean;
  /** With `grid`: only the cells of this organic rate (to split the grid across processes). */
  readonly gridRate?: number;
  readonly json: boolean;
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
  return scenario.canaryError > baselineError || scenario.latencyShift > 1 || scenario.tailShift > 1;
}

const USAGE = `Usage: npm run bench:canary -- [flags]

Simulates canary rollouts on per-minute CloudWatch metrics and compares the project's judge and
policy with SageMaker deployment guardrails and CodeDeploy traffic shifting, every strategy gated by
the stage's deployed canary alarms (services/rollout/canary-alarms.ts: 5xx > ${CANARY_ALARM_DEFAULTS.errorRatePercent} %,
p99 > ${CANARY_ALARM_DEFAULTS.latencyP99Ms} ms, ${CANARY_ALARM_DEFAULTS.datapointsToAlarm} of ${CANARY_ALARM_DEFAULTS.evaluationPeriods} minutes, minutes with >= ${CANARY_ALARM_DEFAULTS.minInvocations}
resp. ${CANARY_ALARM_DEFAULTS.latencyMinInvocations} invocations).

World: Poisson traffic split by variant weights (weight changes effective after 30 s); per-minute,
per-variant error-rate multipliers (gamma, mean 1, CV = --overdispersion, the canary's
--canary-overdispersion); lognormal per-request latency whose baseline p99 is half the latency
alarm's threshold; CloudWatch p50/p99 are the nearest-rank order statistics of each minute's
requests, drawn jointly with the PR(:v) counts at the rollout's latency thresholds; the baseline's
hour before the rollout gives the latency reference (its p50/p99) and its per-minute errors.
  --cloudwatch realistic: each minute is published 1–3 min after it closes (uniform), shows a partly
  aggregated datapoint (each statistic 50–100 % aggregated, independently) in the minute before, and
  1 % of datapoints (per statistic and variant) never arrive.  ideal: complete 60 s after close.

Strategies:
  ours               the judge and policy (--policy), judged once a minute
  guardrails-canary  SageMaker guardrails canary: 10 % for 10 min, then 100 %, 10 min baking period
  guardrails-linear  SageMaker guardrails linear: 20 % steps every 5 min, 10 min baking period
  codedeploy-canary  CodeDeploy Canary10Percent5Minutes
  codedeploy-linear  CodeDeploy Linear10PercentEvery1Minute

Flags:
  --rate <req/s>            organic endpoint traffic, 0 allowed (default 10)
  --baseline-error <frac>   baseline 5xx rate (default 0.005)
  --canary-error <frac>     canary 5xx rate; with --latency-shift/--tail-shift, runs one custom scenario
  --latency-shift <ratio>   canary latency ÷ baseline latency (default 1)
  --tail-shift <ratio>      canary p99 ÷ baseline p99 with the median unchanged (default 1)
  --latency-sigma <s>       lognormal σ of per-request latency (default 1)
  --overdispersion <cv>     CV of the per-minute, per-variant error-rate multiplier (default 0)
  --canary-overdispersion <cv>
                            the canary's own CV, for a candidate that fails in bursts production
                            never had (default: --overdispersion)
  --cloudwatch <model>      realistic | ideal (default realistic)
  --traffic <mode>          off | always (5 req/s) | top-up (to 120 req/min, at most 2 req/s) (default off)
  --policy <stage>          prod | dev rollout policy for ours (default prod)
  --trials <n>              rollouts per strategy and scenario (default 1000)
  --seed <int>              PRNG seed (default 1)
  --strategy <s>            ${STRATEGIES.join(' | ')} | all (default all)
  --grid                    false-rollback grid instead: good canaries, ours, R ∈ {1, 10, 100} ×
                            baseline error ∈ {0, 0.1 %, 0.5 %, 2 %} × σ ∈ {0.5, 1, 1.5} × CV ∈ {0, 0.5, 1}
  --grid-rate <R>           with --grid: only the cells of rate R (split the grid across processes)
  --json                    print only a JSON array of rows on stdout (progress stays on stderr)
  --help                    this text

Without --canary-error/--latency-shift/--tail-shift it runs: 10x, 3x and 2x errors (when the baseline
has errors), good, latency 1.5x, latency at the policy's threshold, and tail-only p99 x 2.
`;

/** Thrown for bad command-line input; the CLI prints the message and the usage. */
export class UsageError extends Error {}

const VALUE_FLAGS = [
  'rate',
  'baseline-error',
  'canary-error',
  'latency-shift',
  'tail-shift',
  'latency-sigma',
  'overdispersion',
  'canary-overdispersion',
  'cloudwatch',
  'traffic',
  'policy',
  'trials',
  'seed',
  'strategy',
  'grid-rate',
];

function oneOf<T extends string>(
  key: string,
  raw: string | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  if (raw === undefined) return fallback;
  if (!allowed.includes(raw as T))
    throw new UsageError(`--${key} must be one of ${allowed.join(', ')}; got ${raw}`);
  return raw as T;
}

/** Parses argv (without node and script); returns 'help' when help was asked for. */
export function parseArgs(argv: readonly string[]): BenchOptions | 'help' {
  const values = new Map<string, string>();
  let json = false;
  let grid = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') return 'help';
    if (arg === '--json') {
      json = true;
      continue;
    }
    if (arg === '--grid') {
      grid = true;
      continue;
    }
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new UsageError(`unexpected argument ${arg}`);
    if (!VALUE_FLAGS.includes(match[1])) throw new UsageError(`unknown flag --${match[1]}`);
    const value = match[2] ?? argv[++i];
    if (value === undefined) throw new UsageError(`--${match[1]} needs a value`);
    values.set(match[1], value);
  }
  const num = (key: string, fallback: number | undefined, valid: (v: number) => boolean, what: string) => {
    const raw = values.get(key);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(value) || !valid(value))
      throw new UsageError(`--${key} must be ${what}, got ${raw}`);
    return value;
  };
  const fraction = (v: number) => v >= 0 && v < 1;
  const strategy = values.get('strategy') ?? 'all';
  if (strategy !== 'all' && !STRATEGIES.includes(strategy as Strategy)) {
    throw new UsageError(`--strategy must be one of ${STRATEGIES.join(', ')}, all; got ${strategy}`);
  }
  return {
    rate: num('rate', 10, (v) => v >= 0, 'a number of requests per second >= 0') as number,
    baselineError: num('baseline-error', 0.005, fraction, 'a fraction in [0, 1)') as number,
    canaryError: num('canary-error', undefined, (v) => v >= 0 && v <= 1, 'a fraction in [0, 1]'),
    latencyShift: num('latency-shift', undefined, (v) => v > 0, 'a positive ratio'),
    tailShift: num('tail-shift', undefined, (v) => v >= 1, 'a ratio >= 1'),
    latencySigma: num('latency-sigma', 1, (v) => v > 0 && v <= 3, 'a lognormal σ in (0, 3]') as number,
    overdispersion: num(
      'overdispersion',
      0,
      (v) => v >= 0 && v <= 3,
      'a coefficient of variation in [0, 3]',
    ) as number,
    canaryOverdispersion: num(
      'canary-overdispersion',
      undefined,
      (v) => v >= 0 && v <= 3,
      'a coefficient of variation in [0, 3]',
    ),
    cloudwatch: oneOf('cloudwatch', values.get('cloudwatch'), ['realistic', 'ideal'] as const, 'realistic'),
    traffic: oneOf('traffic', values.get('traffic'), ['off', 'always', 'top-up'] as const, 'off'),
    policy: oneOf('policy', values.get('policy'), ['prod', 'dev'] as const, 'prod'),
    trials: num('trials', 1000, (v) => Number.isInteger(v) && v > 0, 'a positive integer') as number,
    seed: num('seed', 1, Number.isInteger, 'an integer') as number,
    strategies: strategy === 'all' ? STRATEGIES : [strategy as Strategy],
    grid,
    gridRate: num(
      'grid-rate',
      undefined,
      (v) => (GRID.rates as readonly number[]).includes(v),
      `one of ${GRID.rates.join(', ')}`,
    ),
    json,
  };
}

function hashSeed(...parts: (number | string)[]): number {
  let h = 0x811c9dc5;
  for (const ch of parts.join('|')) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

const WEIGHT_DELAY_MINUTES = 0.5;
const Z99 = normalQuantile(0.99);
const MINUTE_MS = 60_000;
/** The judge runs a few seconds after the minute (the state machine's bake timer). */
const JUDGE_OFFSET_MS = 5_000;
const ALARM_NAMES = ['canary-5xx-rate', 'canary-p99-latency'] as const;

interface Sim {
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

/** A minute as CloudWatch shows it over time. */
interface PublishedMinute {
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
function latencyAt(sim: Sim, z: number, canary: boolean): number {
  const sigma = sim.world.latencySigma;
  if (!canary) return sim.medianMs * Math.exp(sigma * z);
  const tail = z > 0 ? (z * Math.log(sim.scenario.tailShift)) / Z99 : 0;
  return sim.scenario.latencyShift * sim.medianMs * Math.exp(sigma * z + tail);
}

/** P(latency ≤ v) of a variant: the inverse of latencyAt. */
function latencyCdf(sim: Sim, v: number, canary: boolean): number {
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
interface PreRolloutHour {
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
function preRolloutHour(sim: Sim): PreRolloutHour | null {
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

function publish(sim: Sim, minute: number, a: TrueVariant, b: TrueVariant): PublishedMinute {
  const realistic = sim.world.cloudwatch === 'realistic';
  const delay = realistic ? 1 + Math.floor(sim.random() * 3) : 1;
  const missing = (): boolean => realistic && sim.random() < 0.01;
  const shown = (v: TrueVariant) => {
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

/** The synthetic requests the traffic source sends in one minute. */
function syntheticThisMinute(world: World, organicPreviousMinute: number): number {
  if (world.traffic === 'always') return TRAFFIC_DEFAULTS.always.requestsPerSecond * 60;
  if (world.traffic === 'top-up') {
    const { requestsPerSecond, floorRequestsPerMinute } = TRAFFIC_DEFAULTS['top-up'];
    return Math.min(requestsPerSecond * 60, Math.max(0, floorRequestsPerMinute - organicPreviousMinute));
  }
  return 0;
}

/**
 * The endpoint as every strategy drives it: one minute at a time, weights changing WEIGHT_DELAY after a
 * decision, CloudWatch publishing as the world says, the deployed alarms evaluating every minute.
 */
class Endpoint {
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
    this.minutes.push(publish(this.sim, t, a, b));
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

function simFor(world: World, scenario: Scenario, random: () => number): Sim {
  const medianMs = CANARY_ALARM_DEFAULTS.latencyP99Ms / 2 / Math.exp(world.latencySigma * Z99);
  return { world, scenario, random, medianMs };
}

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

const SCHEDULES: Record<Exclude<Strategy, 'ours'>, Schedule> = {
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

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The policy `--policy` names. */
export function policyFor(name: 'prod' | 'dev'): RolloutPolicy {
  return name === 'dev' ? DEV_ROLLOUT_POLICY : PROD_ROLLOUT_POLICY;
}

/** Runs `trials` rollouts of one strategy on one scenario and summarises them as a table row. */
export function runScenario(
  strategy: Strategy,
  scenario: Scenario,
  world: World,
  options: Pick<BenchOptions, 'trials' | 'seed' | 'policy'>,
  policy: RolloutPolicy = policyFor(options.policy),
): BenchRow {
  const random = mulberry32(
    hashSeed(
      options.seed,
      strategy,
      scenario.name,
      world.rate,
      world.baselineError,
      world.latencySigma,
      world.overdispersion,
      world.cloudwatch,
      world.traffic,
      options.policy,
      // Only a canary CV of its own seeds differently: the same worlds keep their figures.
      ...(world.canaryOverdispersion === undefined ? [] : [world.canaryOverdispersion]),
    ),
  );
  const sim = simFor(world, scenario, random);
  const results: TrialResult[] = [];
  for (let i = 0; i < options.trials; i++) {
    results.push(
      strategy === 'ours' ? simulateOurs(sim, policy) : simulateSchedule(sim, SCHEDULES[strategy]),
    );
  }
  const regression = isRegression(scenario, world.baselineError);
  const share = (count: number) => Math.round((count / results.length) * 10_000) / 10_000;
  const detected = results.filter((r) => r.ending === 'judge' || r.ending === 'alarm');
  const rolledBack = results.filter((r) => r.ending !== 'promoted');
  const promoted = results.filter((r) => r.ending === 'promoted');
  return {
    strategy,
    scenario: scenario.name,
    rate: world.rate,
    baselineError: world.baselineError,
    latencySigma: world.latencySigma,
    overdispersion: world.overdispersion,
    canaryOverdispersion: world.canaryOverdispersion ?? world.overdispersion,
    cloudwatch: world.cloudwatch,
    traffic: world.traffic,
    policy: options.policy,
    trials: options.trials,
    detectionRate: regression ? share(detected.length) : null,
    medianMinutesToDetect: regression ? median(detected.map((r) => r.minutes)) : null,
    medianCanaryRequestsBeforeRollback: regression ? median(detected.map((r) => r.canaryRequests)) : null,
    falseRollbackRate: regression ? null : share(rolledBack.length),
    medianMinutesTo100: regression ? null : median(promoted.map((r) => r.minutes)),
    deadlineRate: share(results.filter((r) => r.ending === 'deadline').length),
    promotedRate: share(promoted.length),
    lateRollbackRate: share(results.filter((r) => r.ending === 'late-alarm').length),
    medianMinutesToVerdict: median(results.map((r) => r.minutes)) ?? 0,
    medianSyntheticRequests: median(results.map((r) => r.syntheticRequests)) ?? 0,
  };
}

function worldOf(options: BenchOptions): World {
  return {
    rate: options.rate,
    baselineError: options.baselineError,
    latencySigma: options.latencySigma,
    overdispersion: options.overdispersion,
    ...(options.canaryOverdispersion === undefined
      ? {}
      : { canaryOverdispersion: options.canaryOverdispersion }),
    cloudwatch: options.cloudwatch,
    traffic: options.traffic,
  };
}

/** The false-rollback grid of issue 10: good canaries under every world of the grid. */
export const GRID = Object.freeze({
  rates: [1, 10, 100] as readonly number[],
  baselineErrors: [0, 0.001, 0.005, 0.02],
  sigmas: [0.5, 1, 1.5],
  overdispersions: [0, 0.5, 1],
});

/** Every row the options ask for, in table order. */
export function runBench(
  options: BenchOptions,
  progress: (line: string) => void = () => undefined,
): BenchRow[] {
  const rows: BenchRow[] = [];
  const timed = (label: string, run: () => BenchRow) => {
    const started = Date.now();
    const row = run();
    rows.push(row);
    progress(`${label}: ${options.trials} trials in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  };
  if (options.grid) {
    for (const rate of GRID.rates.filter((r) => options.gridRate === undefined || r === options.gridRate))
      for (const baselineError of GRID.baselineErrors)
        for (const latencySigma of GRID.sigmas)
          for (const overdispersion of GRID.overdispersions) {
            const world = { ...worldOf(options), rate, baselineError, latencySigma, overdispersion };
            const good = { name: 'good', canaryError: baselineError, latencyShift: 1, tailShift: 1 };
            timed(`grid R=${rate} b=${baselineError} σ=${latencySigma} cv=${overdispersion}`, () =>
              runScenario('ours', good, world, options),
            );
          }
    return rows;
  }
  const custom =
    options.canaryError !== undefined ||
    options.latencyShift !== undefined ||
    options.tailShift !== undefined;
  const scenarios = custom
    ? [
        {
          name: 'custom',
          canaryError: options.canaryError ?? options.baselineError,
          latencyShift: options.latencyShift ?? 1,
          tailShift: options.tailShift ?? 1,
        },
      ]
    : standardScenarios(options.baselineError, policyFor(options.policy));
  const world = worldOf(options);
  for (const strategy of options.strategies) {
    for (const scenario of scenarios) {
      timed(`${strategy} ${scenario.name}`, () => runScenario(strategy, scenario, world, options));
    }
  }
  return rows;
}

function formatTable(rows: readonly BenchRow[]): string {
  const pct = (v: number | null) => (v === null ? '-' : `${(v * 100).toFixed(1)}%`);
  const num = (v: number | null) => (v === null ? '-' : String(Math.round(v * 10) / 10));
  const header = [
    'strategy',
    'scenario',
    'rate',
    'base err',
    'σ',
    'cv',
    'detected',
    'min→detect',
    'canary req',
    'false rb',
    'min→100%',
    'deadline',
    'promoted',
    'synthetic',
  ];
  const lines = rows.map((r) => [
    r.strategy,
    r.scenario,
    String(r.rate),
    String(r.baselineError),
    String(r.latencySigma),
    r.canaryOverdispersion === r.overdispersion
      ? String(r.overdispersion)
      : `${r.overdispersion}/${r.canaryOverdispersion}`,
    pct(r.detectionRate),
    num(r.medianMinutesToDetect),
    num(r.medianCanaryRequestsBeforeRollback),
    pct(r.falseRollbackRate),
    num(r.medianMinutesTo100),
    pct(r.deadlineRate),
    pct(r.promotedRate),
    num(r.medianSyntheticRequests),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  return [header, ...lines].map((l) => l.map((c, i) => c.padEnd(widths[i])).join('  ')).join('\n');
}

function main(argv: readonly string[]): number {
  let options: BenchOptions | 'help';
  try {
    options = parseArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const started = Date.now();
  const rows = runBench(options, (line) => process.stderr.write(`${line}\n`));
  process.stderr.write(`done: ${rows.length} rows in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  process.stdout.write(options.json ? `${JSON.stringify(rows)}\n` : `${formatTable(rows)}\n`);
  return 0;
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}
