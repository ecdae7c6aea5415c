/**
 * Canary rollout benchmark: simulates per-minute CloudWatch metrics of a SageMaker endpoint with two
 * variants and drives the project's real judge and policy, and CodeDeploy-style static canaries, through
 * the same traffic.
 *
 * Run `npm run bench:canary -- --help` for the flags.
 */
import { judge, type PeriodMetrics } from '../services/rollout/judge';
import { nextWeights, PROD_ROLLOUT_POLICY, type RolloutPolicy } from '../services/rollout/policy';
import { mulberry32 } from '../scripts/seeded-random';

/** The three strategies compared. */
export type Strategy = 'ours' | 'codedeploy-canary' | 'codedeploy-linear';

/** Every strategy, in table order. */
export const STRATEGIES: readonly Strategy[] = ['ours', 'codedeploy-canary', 'codedeploy-linear'];

/** A canary's true behaviour relative to the baseline. */
export interface Scenario {
  readonly name: string;
  readonly canaryError: number;
  readonly latencyShift: number;
}

/** One line of the result table; `null` where a figure does not apply to the scenario. */
export interface BenchRow {
  readonly strategy: Strategy;
  readonly scenario: string;
  readonly rate: number;
  readonly trials: number;
  readonly detectionRate: number | null;
  readonly medianMinutesToDetect: number | null;
  readonly medianCanaryRequestsBeforeRollback: number | null;
  readonly falseRollbackRate: number | null;
  readonly medianMinutesTo100: number | null;
}

/** Command-line options after parsing. */
export interface BenchOptions {
  readonly rate: number;
  readonly baselineError: number;
  readonly canaryError?: number;
  readonly latencyShift?: number;
  readonly trials: number;
  readonly seed: number;
  readonly strategies: readonly Strategy[];
  readonly json: boolean;
}

/** Outcome of one simulated rollout. */
export interface TrialResult {
  readonly rolledBack: boolean;
  /** Minutes from rollout start to the rollback decision or to the canary serving 100 %. */
  readonly minutes: number;
  /** Canary requests served until the rollback took effect (or until 100 %). */
  readonly canaryRequests: number;
  /** The judge's reason for the final decision (ours only). */
  readonly reason?: string;
}

/** The standard ways a canary can differ from its baseline. */
export function standardScenarios(baselineError: number): Scenario[] {
  return [
    { name: 'bad-10x-errors', canaryError: 10 * baselineError, latencyShift: 1 },
    { name: 'subtle-3x-errors', canaryError: 3 * baselineError, latencyShift: 1 },
    { name: 'good', canaryError: baselineError, latencyShift: 1 },
    { name: 'latency-1.5x', canaryError: baselineError, latencyShift: 1.5 },
  ];
}

/** A scenario is a regression (it should be rolled back) when its canary is worse in any way. */
export function isRegression(scenario: Scenario, baselineError: number): boolean {
  return scenario.canaryError > baselineError || scenario.latencyShift > 1;
}

const USAGE = `Usage: npm run bench:canary -- [flags]

Simulates canary rollouts on per-minute CloudWatch metrics (Poisson traffic split by variant weights,
60 s periods visible 60 s after they close, weight changes effective after 30 s) and compares the
project's judge and prod policy with CodeDeploy Canary10Percent5Minutes / Linear10PercentEvery1Minute
gated by a static canary-only 5xx alarm (> 2 %, 1 of 1 datapoints).

Flags:
  --rate <req/s>            endpoint traffic (default 10)
  --baseline-error <frac>   baseline 5xx rate (default 0.005)
  --canary-error <frac>     canary 5xx rate; with --latency-shift, runs one custom scenario
  --latency-shift <ratio>   canary latency ÷ baseline latency (default 1)
  --trials <n>              rollouts per strategy and scenario (default 1000)
  --seed <int>              PRNG seed (default 1)
  --strategy <s>            ours | codedeploy-canary | codedeploy-linear | all (default all)
  --json                    print only a JSON array of rows on stdout
  --help                    this text

Without --canary-error/--latency-shift it runs: bad (10x errors), subtle (3x), good, latency 1.5x.
`;

/** Thrown for bad command-line input; the CLI prints the message and the usage. */
export class UsageError extends Error {}

/** Parses argv (without node and script); returns 'help' when help was asked for. */
export function parseArgs(argv: readonly string[]): BenchOptions | 'help' {
  const values = new Map<string, string>();
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') return 'help';
    if (arg === '--json') {
      json = true;
      continue;
    }
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new UsageError(`unexpected argument ${arg}`);
    const value = match[2] ?? argv[++i];
    if (value === undefined) throw new UsageError(`--${match[1]} needs a value`);
    values.set(match[1], value);
  }
  const known = ['rate', 'baseline-error', 'canary-error', 'latency-shift', 'trials', 'seed', 'strategy'];
  for (const key of values.keys()) {
    if (!known.includes(key)) throw new UsageError(`unknown flag --${key}`);
  }
  const num = (key: string, fallback: number | undefined, valid: (v: number) => boolean, what: string) => {
    const raw = values.get(key);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || !valid(value))
      throw new UsageError(`--${key} must be ${what}, got ${raw}`);
    return value;
  };
  const fraction = (v: number) => v >= 0 && v < 1;
  const strategy = values.get('strategy') ?? 'all';
  if (strategy !== 'all' && !STRATEGIES.includes(strategy as Strategy)) {
    throw new UsageError(`--strategy must be one of ${STRATEGIES.join(', ')}, all; got ${strategy}`);
  }
  return {
    rate: num('rate', 10, (v) => v > 0, 'a positive number of requests per second') as number,
    baselineError: num('baseline-error', 0.005, fraction, 'a fraction in [0, 1)') as number,
    canaryError: num('canary-error', undefined, fraction, 'a fraction in [0, 1)'),
    latencyShift: num('latency-shift', undefined, (v) => v > 0, 'a positive ratio'),
    trials: num('trials', 1000, (v) => Number.isInteger(v) && v > 0, 'a positive integer') as number,
    seed: num('seed', 1, Number.isInteger, 'an integer') as number,
    strategies: strategy === 'all' ? STRATEGIES : [strategy as Strategy],
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

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

function logGamma(x: number): number {
  const z = x - 1;
  let sum = LANCZOS[0];
  for (let i = 1; i < 9; i++) sum += LANCZOS[i] / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/**
 * Poisson sample: multiplication method for small means, Hörmann's PTRS transformed rejection
 * (W. Hörmann, "The transformed rejection method for generating Poisson random variables", 1993)
 * for large ones, so R = 100 req/s costs the same as R = 1.
 */
export function poisson(mean: number, random: () => number): number {
  if (mean <= 0) return 0;
  if (mean < 30) {
    const limit = Math.exp(-mean);
    let k = 0;
    let p = random();
    while (p > limit) {
      k++;
      p *= random();
    }
    return k;
  }
  const slam = Math.sqrt(mean);
  const loglam = Math.log(mean);
  const b = 0.931 + 2.53 * slam;
  const a = -0.059 + 0.02483 * b;
  const invAlpha = 1.1239 + 1.1328 / (b - 3.4);
  const vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const u = random() - 0.5;
    const v = random();
    const us = 0.5 - Math.abs(u);
    const k = Math.floor(((2 * a) / us + b) * u + mean + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (
      Math.log(v) + Math.log(invAlpha) - Math.log(a / (us * us) + b) <=
      -mean + k * loglam - logGamma(k + 1)
    ) {
      return k;
    }
  }
}

function gaussian(random: () => number): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** Coefficient of variation of one request's latency (log-normal-ish model server). */
const REQUEST_LATENCY_CV = 0.5;
const BASELINE_LATENCY_MS = 40;
const VISIBILITY_MINUTES = 1;
const WEIGHT_DELAY_MINUTES = 0.5;
const STATIC_ALARM_THRESHOLD = 0.02;

interface Traffic {
  readonly rate: number;
  readonly baselineError: number;
  readonly scenario: Scenario;
  readonly random: () => number;
}

interface VariantCounts {
  n: number;
  e: number;
}

/** Requests and errors of one variant over `minutes` at `share` of traffic (Poisson thinning). */
function serve(traffic: Traffic, minutes: number, share: number, errorRate: number): VariantCounts {
  const mean = traffic.rate * 60 * minutes * share;
  const e = poisson(mean * errorRate, traffic.random);
  return { n: e + poisson(mean * (1 - errorRate), traffic.random), e };
}

function averageLatency(traffic: Traffic, n: number, mean: number): number | null {
  if (n === 0) return null;
  const s2 = Math.log(1 + (REQUEST_LATENCY_CV * REQUEST_LATENCY_CV) / n);
  return Math.exp(Math.log(mean) - s2 / 2 + Math.sqrt(s2) * gaussian(traffic.random));
}

/**
 * One CloudWatch period [minute, minute+1) in which the canary share goes from `before` to `after` at
 * `minute + changeAt` (changeAt = 1 means no change). Returns the period and the canary requests served
 * before the change.
 */
function simulatePeriod(
  traffic: Traffic,
  minute: number,
  before: number,
  after: number,
  changeAt = 1,
): { period: PeriodMetrics; canaryBeforeChange: number } {
  const { baselineError, scenario } = traffic;
  const a1 = serve(traffic, changeAt, 1 - before, baselineError);
  const b1 = serve(traffic, changeAt, before, scenario.canaryError);
  const a2 = changeAt < 1 ? serve(traffic, 1 - changeAt, 1 - after, baselineError) : { n: 0, e: 0 };
  const b2 = changeAt < 1 ? serve(traffic, 1 - changeAt, after, scenario.canaryError) : { n: 0, e: 0 };
  const nA = a1.n + a2.n;
  const nB = b1.n + b2.n;
  return {
    period: {
      start: minute * 60_000,
      baseline: {
        invocations: nA,
        errors: a1.e + a2.e,
        latencyAvg: averageLatency(traffic, nA, BASELINE_LATENCY_MS),
      },
      canary: {
        invocations: nB,
        errors: b1.e + b2.e,
        latencyAvg: averageLatency(traffic, nB, BASELINE_LATENCY_MS * scenario.latencyShift),
      },
    },
    canaryBeforeChange: b1.n,
  };
}

/** One rollout driven by the real judge and policy; the controller asks the judge once a minute. */
export function simulateOurs(traffic: Traffic, policy: RolloutPolicy): TrialResult {
  const periods: PeriodMetrics[] = [];
  let canaryServed = 0;
  let stepIndex = 0;
  let weights = nextWeights({ baseline: 100, canary: 0 }, 'promote', policy);
  let share = 0;
  let change: number | undefined = weights.canary / 100;
  let stepStartedAt = WEIGHT_DELAY_MINUTES * 60_000;
  const lastMinute = policy.deadlineMinutes + 5;
  for (let t = 0; t <= lastMinute; t++) {
    let verdict = 'wait';
    let reason = '';
    if (t > 0) {
      const visible = periods.slice(0, Math.max(0, t - VISIBILITY_MINUTES));
      ({ verdict, reason } = judge(
        { alarms: [], periods: visible, periodSeconds: 60, stepIndex, stepStartedAt, rolloutStartedAt: 0 },
        policy,
        t * 60_000,
      ));
      if (verdict === 'rollback' || verdict === 'promote') {
        weights = nextWeights(weights, verdict, policy);
        change = weights.canary / 100;
      }
      if (verdict === 'promote') {
        if (weights.canary === 100) {
          return {
            rolledBack: false,
            minutes: t + WEIGHT_DELAY_MINUTES,
            canaryRequests: canaryServed,
            reason,
          };
        }
        stepIndex = policy.steps.indexOf(weights.canary);
        stepStartedAt = (t + WEIGHT_DELAY_MINUTES) * 60_000;
      }
    }
    const { period, canaryBeforeChange } = simulatePeriod(
      traffic,
      t,
      share,
      change ?? share,
      change === undefined ? 1 : WEIGHT_DELAY_MINUTES,
    );
    if (verdict === 'rollback') {
      return { rolledBack: true, minutes: t, canaryRequests: canaryServed + canaryBeforeChange, reason };
    }
    periods.push(period);
    canaryServed += period.canary.invocations ?? 0;
    share = change ?? share;
    change = undefined;
  }
  return { rolledBack: true, minutes: lastMinute, canaryRequests: canaryServed };
}

/**
 * A CodeDeploy-style rollout: fixed (minute, canary share) schedule, rolled back when the static
 * canary-only 5xx alarm (> 2 %, 1 of 1 datapoints) sees its latest datapoint breach.
 */
export function simulateCodeDeploy(
  traffic: Traffic,
  schedule: readonly { readonly minute: number; readonly share: number }[],
): TrialResult {
  const periods: PeriodMetrics[] = [];
  let canaryServed = 0;
  let share = 0;
  const lastMinute = Math.max(...schedule.map((s) => s.minute));
  for (let t = 0; t <= lastMinute; t++) {
    const latest = t > VISIBILITY_MINUTES ? periods[t - VISIBILITY_MINUTES - 1] : undefined;
    const n = latest?.canary.invocations ?? 0;
    const alarm = n > 0 && (latest?.canary.errors ?? 0) / n > STATIC_ALARM_THRESHOLD;
    const target = schedule.find((s) => s.minute === t)?.share;
    if (!alarm && target === 1) {
      return { rolledBack: false, minutes: t + WEIGHT_DELAY_MINUTES, canaryRequests: canaryServed };
    }
    const change = alarm ? 0 : target;
    const { period, canaryBeforeChange } = simulatePeriod(
      traffic,
      t,
      share,
      change ?? share,
      change === undefined ? 1 : WEIGHT_DELAY_MINUTES,
    );
    if (alarm) return { rolledBack: true, minutes: t, canaryRequests: canaryServed + canaryBeforeChange };
    periods.push(period);
    canaryServed += period.canary.invocations ?? 0;
    share = change ?? share;
  }
  throw new Error('a CodeDeploy schedule must end at 100 %');
}

/** CodeDeploy Canary10Percent5Minutes: 10 % for five minutes, then everything. */
export const CODEDEPLOY_CANARY = [
  { minute: 0, share: 0.1 },
  { minute: 5, share: 1 },
] as const;

/** CodeDeploy Linear10PercentEvery1Minute: ten equal steps one minute apart. */
export const CODEDEPLOY_LINEAR = Array.from({ length: 10 }, (_, i) => ({ minute: i, share: (i + 1) / 10 }));

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Runs `trials` rollouts of one strategy on one scenario and summarises them as a table row. */
export function runScenario(
  strategy: Strategy,
  scenario: Scenario,
  options: Pick<BenchOptions, 'rate' | 'baselineError' | 'trials' | 'seed'>,
  policy: RolloutPolicy = PROD_ROLLOUT_POLICY,
): BenchRow {
  const random = mulberry32(hashSeed(options.seed, strategy, scenario.name, options.rate));
  const traffic: Traffic = { rate: options.rate, baselineError: options.baselineError, scenario, random };
  const results: TrialResult[] = [];
  for (let i = 0; i < options.trials; i++) {
    if (strategy === 'ours') results.push(simulateOurs(traffic, policy));
    else
      results.push(
        simulateCodeDeploy(traffic, strategy === 'codedeploy-canary' ? CODEDEPLOY_CANARY : CODEDEPLOY_LINEAR),
      );
  }
  const rolledBack = results.filter((r) => r.rolledBack);
  const promoted = results.filter((r) => !r.rolledBack);
  const regression = isRegression(scenario, options.baselineError);
  const rate = (count: number) => Math.round((count / results.length) * 10_000) / 10_000;
  return {
    strategy,
    scenario: scenario.name,
    rate: options.rate,
    trials: options.trials,
    detectionRate: regression ? rate(rolledBack.length) : null,
    medianMinutesToDetect: regression ? median(rolledBack.map((r) => r.minutes)) : null,
    medianCanaryRequestsBeforeRollback: regression ? median(rolledBack.map((r) => r.canaryRequests)) : null,
    falseRollbackRate: regression ? null : rate(rolledBack.length),
    medianMinutesTo100: regression ? null : median(promoted.map((r) => r.minutes)),
  };
}

/** Every row the options ask for, in table order. */
export function runBench(
  options: BenchOptions,
  progress: (line: string) => void = () => undefined,
): BenchRow[] {
  const scenarios =
    options.canaryError === undefined && options.latencyShift === undefined
      ? standardScenarios(options.baselineError)
      : [
          {
            name: 'custom',
            canaryError: options.canaryError ?? options.baselineError,
            latencyShift: options.latencyShift ?? 1,
          },
        ];
  const rows: BenchRow[] = [];
  for (const strategy of options.strategies) {
    for (const scenario of scenarios) {
      const started = Date.now();
      rows.push(runScenario(strategy, scenario, options));
      progress(
        `${strategy} ${scenario.name}: ${options.trials} trials in ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
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
    'trials',
    'detected',
    'min→detect',
    'canary req',
    'false rb',
    'min→100%',
  ];
  const lines = rows.map((r) => [
    r.strategy,
    r.scenario,
    String(r.rate),
    String(r.trials),
    pct(r.detectionRate),
    num(r.medianMinutesToDetect),
    num(r.medianCanaryRequestsBeforeRollback),
    pct(r.falseRollbackRate),
    num(r.medianMinutesTo100),
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
  const rows = runBench(options, (line) => process.stderr.write(`${line}\n`));
  process.stdout.write(options.json ? `${JSON.stringify(rows)}\n` : `${formatTable(rows)}\n`);
  return 0;
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}
