/**
 * Canary rollout benchmark: simulates per-minute CloudWatch metrics of a SageMaker endpoint with two
 * variants and drives the project's real judge and policy, the stage's deployed canary alarms, the
 * canary analyses and traffic-shifting strategies users would otherwise configure (Kayenta, Argo
 * Rollouts, Flagger, SageMaker deployment guardrails, CodeDeploy) and an oracle that knows the truth,
 * through the same traffic and the same alarms.
 *
 * Run `npm run bench:canary -- --help` for the flags; the JSON schema is in docs/ROLLOUT.md.
 */
import { CANARY_ALARM_DEFAULTS } from '../services/rollout/canary-alarms';
import { GRID, runBench, formatTable, type BenchOptions } from './canary-report';
import { STRATEGIES, type Strategy } from './canary-strategies';
import { TRAFFIC_DEFAULTS } from './canary-world';
import { DEFAULT_LABELLED_REQUESTS_PER_MINUTE, MAX_TRAFFIC_RATE } from '../services/traffic/config';
import { DEFAULT_BASELINE_ACCURACY, LABEL_SHIFTED_ACCURACY } from './canary-quality';

const USAGE = `Usage: npm run bench:canary -- [flags]

Simulates canary rollouts on per-minute CloudWatch metrics and compares the project's judge and
policy with Kayenta, Argo Rollouts, Flagger, SageMaker deployment guardrails, CodeDeploy traffic
shifting and an oracle (docs/ROLLOUT.md has each configuration), every strategy gated by
the stage's deployed canary alarms (services/rollout/canary-alarms.ts: 5xx > ${CANARY_ALARM_DEFAULTS.errorRatePercent} %,
p99 > ${CANARY_ALARM_DEFAULTS.latencyP99Ms} ms, ${CANARY_ALARM_DEFAULTS.datapointsToAlarm} of ${CANARY_ALARM_DEFAULTS.evaluationPeriods} minutes, minutes with >= ${CANARY_ALARM_DEFAULTS.minInvocations}
resp. ${CANARY_ALARM_DEFAULTS.latencyMinInvocations} invocations).

World: Poisson traffic split by variant weights (weight changes effective after 30 s); per-minute,
per-variant error-rate multipliers (gamma, mean 1, CV = --overdispersion, the canary's
--canary-overdispersion); lognormal per-request latency whose baseline p99 is half the latency
alarm's threshold; CloudWatch p50/p99 are the nearest-rank order statistics of each minute's
requests, drawn jointly with the PR(:v) counts at the rollout's latency thresholds; the baseline's
hour before the rollout gives the latency reference (its p50/p99) and its per-minute errors. Every
synthetic request is a labelled row; answers are right with the variant's accuracy, and every answer's
predicted class follows the variant's distribution over three balanced classes (the judge reads the
traffic source's labelled/correct counts and the predict function's counts per class).
  --cloudwatch realistic: each minute is published 1–3 min after it closes (uniform), shows a partly
  aggregated datapoint (each statistic 50–100 % aggregated, independently) in the minute before, and
  1 % of datapoints (per statistic and variant) never arrive.  ideal: complete 60 s after close.

Strategies:
  ours               the judge and policy (--policy), judged once a minute
  oracle             Wald's SPRT knowing the true rates and latencies, on the same complete minutes, the
                     policy's steps (the best any test could do on that data)
  kayenta            Kayenta NetflixACAJudge: 5xx rate, p50, p99 by Mann-Whitney (98 %), canary at 10 %,
                     lifetime 60 min judged every 10 min, fail at score <= 75, pass at >= 95
  argo               Argo Rollouts CloudWatch analysis: 5xx rate over the last 5 min every minute,
                     <= 1 %, failureLimit 3; the policy's steps, 5 min pause each
  flagger            Flagger: success rate >= 99 % and p99 <= ${CANARY_ALARM_DEFAULTS.latencyP99Ms} ms on the newest datapoint every
                     minute, stepWeight 5 to maxWeight 50, threshold 10 failed checks
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
  --canary-accuracy-drop <points>
                            canary accuracy on labelled rows this many points below the baseline's,
                            its predicted-class distribution unchanged (custom scenario)
  --canary-label-shift <tv> share of the canary's predictions moved to another class, each moved
                            answer wrong: the total variation between the distributions (custom scenario)
  --baseline-accuracy <frac>
                            baseline accuracy on labelled rows (default ${DEFAULT_BASELINE_ACCURACY})
  --labelled-rate <req/s>   the traffic source's labelled stream, sent in every mode (default the
                            shipped ${DEFAULT_LABELLED_REQUESTS_PER_MINUTE / 60} req/s; 0 turns it off)
  --latency-sigma <s>       lognormal σ of per-request latency (default 1)
  --overdispersion <cv>     CV of the per-minute, per-variant error-rate multiplier (default 0)
  --canary-overdispersion <cv>
                            the canary's own CV, for a candidate that fails in bursts production
                            never had (default: --overdispersion)
  --cloudwatch <model>      realistic | ideal (default realistic)
  --traffic <mode>          off | always (dev's source: ${TRAFFIC_DEFAULTS.always.requestsPerSecond} req/s) | top-up (prod's: to
                            ${TRAFFIC_DEFAULTS['top-up'].floorRequestsPerMinute} req/min, at most ${TRAFFIC_DEFAULTS['top-up'].requestsPerSecond} req/s) (default off)
  --traffic-rate <req/s>    the traffic source's rate instead of the mode's default (at most ${MAX_TRAFFIC_RATE})
  --policy <stage>          prod | dev rollout policy for ours (default prod)
  --trials <n>              rollouts per strategy and scenario (default 1000)
  --seed <int>              PRNG seed (default 1)
  --strategy <s>            ${STRATEGIES.join(' | ')} | all (default all)
  --grid                    false-rollback grid instead: good canaries, ours, R ∈ {1, 10, 100} ×
                            baseline error ∈ {0, 0.1 %, 0.5 %, 2 %} × σ ∈ {0.5, 1, 1.5} × CV ∈ {0, 0.5, 1}
  --grid-rate <R>           with --grid: only the cells of rate R (split the grid across processes)
  --json                    print only a JSON array of rows on stdout (progress stays on stderr)
  --help                    this text

Without --canary-error/--latency-shift/--tail-shift/--canary-accuracy-drop/--canary-label-shift it
runs: 10x, 3x and 2x errors (when the baseline has errors), good, latency 1.5x, latency at the
policy's threshold, tail-only p99 x 2, label-shifted (accuracy ${LABEL_SHIFTED_ACCURACY * 100} %), accuracy 5 points
down, and 10 % of predictions moved to another class.
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
  'traffic-rate',
  'labelled-rate',
  'baseline-accuracy',
  'canary-accuracy-drop',
  'canary-label-shift',
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

function optional<T, U>(value: T | undefined, map: (v: T) => U): U | undefined {
  return value === undefined ? undefined : map(value);
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
    trafficRate: num(
      'traffic-rate',
      undefined,
      (v) => v > 0 && v <= MAX_TRAFFIC_RATE,
      `a rate in (0, ${MAX_TRAFFIC_RATE}] requests per second`,
    ),
    labelledPerMinute: optional(
      num(
        'labelled-rate',
        undefined,
        (v) => v >= 0 && v <= MAX_TRAFFIC_RATE,
        `a rate in [0, ${MAX_TRAFFIC_RATE}] requests per second`,
      ),
      (v) => Math.round(v * 60),
    ),
    baselineAccuracy: num('baseline-accuracy', undefined, (v) => v > 0 && v <= 1, 'a fraction in (0, 1]'),
    canaryAccuracyDrop: optional(
      num('canary-accuracy-drop', undefined, (v) => v >= 0 && v <= 100, 'accuracy points in [0, 100]'),
      (v) => v / 100,
    ),
    canaryLabelShift: num(
      'canary-label-shift',
      undefined,
      (v) => v >= 0 && v <= 1 / 3,
      'a total variation in [0, 1/3]',
    ),
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
