/**
 * The canary benchmark's runs and report: trials of one strategy on one scenario summarised as a row,
 * the scenario table or the false-rollback grid the options ask for, and the text table.
 */
import { DEV_ROLLOUT_POLICY, PROD_ROLLOUT_POLICY, type RolloutPolicy } from '../services/rollout/policy';
import { mulberry32 } from '../scripts/seeded-random';
import { DEFAULT_LABELLED_REQUESTS_PER_MINUTE } from '../services/traffic/config';
import { DEFAULT_BASELINE_ACCURACY, qualityScenarios } from './canary-quality';
import { simulate, type Strategy } from './canary-strategies';
import {
  isRegression,
  simFor,
  standardScenarios,
  TRAFFIC_DEFAULTS,
  type CloudWatchModel,
  type Scenario,
  type TrafficMode,
  type TrialResult,
  type World,
} from './canary-world';

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
  /** The traffic source's highest rate in req/s (`--traffic-rate`, else the mode's stage default; 0 when off). */
  readonly trafficRate: number;
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
  /** Baseline accuracy on labelled rows. */
  readonly baselineAccuracy: number;
  /** The canary's accuracy drop in points (`--canary-accuracy-drop`; the label-shifted scenario's too). */
  readonly canaryAccuracyDrop: number;
  /** Share of the canary's predictions moved to another class: the TV (`--canary-label-shift`). */
  readonly canaryLabelShift: number;
  /** The labelled stream, requests a minute (`--labelled-rate` × 60; sent in every traffic mode). */
  readonly labelledPerMinute: number;
  /** Regressions, ours: share rolled back by the judge or an alarm while at the policy's first step. */
  readonly firstStepDetectionRate: number | null;
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
  /** The traffic source's rate in req/s; default: the mode's stage default. */
  readonly trafficRate?: number;
  /** The labelled stream in requests a minute; default: the shipped one. */
  readonly labelledPerMinute?: number;
  /** Baseline accuracy on labelled rows; default DEFAULT_BASELINE_ACCURACY. */
  readonly baselineAccuracy?: number;
  /** The canary's accuracy drop, a fraction (custom scenario). */
  readonly canaryAccuracyDrop?: number;
  /** Share of the canary's predictions moved to another class (custom scenario). */
  readonly canaryLabelShift?: number;
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

function hashSeed(...parts: (number | string)[]): number {
  let h = 0x811c9dc5;
  for (const ch of parts.join('|')) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
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
      // Only a canary CV or traffic rate of its own seeds differently: the same worlds keep their figures.
      ...(world.canaryOverdispersion === undefined ? [] : [world.canaryOverdispersion]),
      ...(world.trafficRate === undefined ? [] : [`traffic ${world.trafficRate}`]),
      ...(world.labelledPerMinute === undefined ? [] : [`labelled ${world.labelledPerMinute}`]),
      ...(world.baselineAccuracy === undefined ? [] : [`accuracy ${world.baselineAccuracy}`]),
    ),
  );
  const sim = simFor(world, scenario, random);
  const results: TrialResult[] = [];
  for (let i = 0; i < options.trials; i++) {
    results.push(simulate(strategy, sim, policy));
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
    trafficRate:
      world.traffic === 'off' ? 0 : (world.trafficRate ?? TRAFFIC_DEFAULTS[world.traffic].requestsPerSecond),
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
    baselineAccuracy: world.baselineAccuracy ?? DEFAULT_BASELINE_ACCURACY,
    canaryAccuracyDrop: Math.round((scenario.quality?.accuracyDrop ?? 0) * 100 * 1000) / 1000,
    canaryLabelShift: scenario.quality?.labelShift ?? 0,
    labelledPerMinute: world.labelledPerMinute ?? DEFAULT_LABELLED_REQUESTS_PER_MINUTE,
    firstStepDetectionRate:
      regression && strategy === 'ours'
        ? share(detected.filter((r) => r.canaryWeightAtVerdict === policy.steps[0]).length)
        : null,
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
    ...(options.trafficRate === undefined ? {} : { trafficRate: options.trafficRate }),
    ...(options.labelledPerMinute === undefined ? {} : { labelledPerMinute: options.labelledPerMinute }),
    ...(options.baselineAccuracy === undefined ? {} : { baselineAccuracy: options.baselineAccuracy }),
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
    options.tailShift !== undefined ||
    options.canaryAccuracyDrop !== undefined ||
    options.canaryLabelShift !== undefined;
  const good = { canaryError: options.baselineError, latencyShift: 1, tailShift: 1 };
  const scenarios: Scenario[] = custom
    ? [
        {
          name: 'custom',
          canaryError: options.canaryError ?? options.baselineError,
          latencyShift: options.latencyShift ?? 1,
          tailShift: options.tailShift ?? 1,
          quality: {
            accuracyDrop: options.canaryAccuracyDrop ?? 0,
            labelShift: options.canaryLabelShift ?? 0,
          },
        },
      ]
    : [
        ...standardScenarios(options.baselineError, policyFor(options.policy)),
        ...qualityScenarios(options.baselineAccuracy ?? DEFAULT_BASELINE_ACCURACY).map(({ name, shift }) => ({
          name,
          ...good,
          quality: shift,
        })),
      ];
  const world = worldOf(options);
  for (const strategy of options.strategies) {
    for (const scenario of scenarios) {
      timed(`${strategy} ${scenario.name}`, () => runScenario(strategy, scenario, world, options));
    }
  }
  return rows;
}

export function formatTable(rows: readonly BenchRow[]): string {
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
