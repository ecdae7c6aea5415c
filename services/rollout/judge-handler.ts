/**
 * Lambda handler the rollout state machine calls once per bake interval: gathers the canary alarms, the
 * rollout's latency reference and the per-variant CloudWatch metrics since the rollout started (with
 * the counts at the reference's latency thresholds), asks the pure judge, logs the decision with its
 * evidence and returns the verdict plus the weights to apply next.
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { Logger } from '@aws-lambda-powertools/logger';
import { CloudWatchRolloutMetrics, type RolloutMetrics } from './adapters/cloudwatch';
import {
  judge,
  latencyThresholds,
  type BaselineMinute,
  type EvidenceSummary,
  type Judgement,
  type LatencyReference,
  type PeriodMetrics,
  type QualitySummary,
  type UsedVariantMinute,
} from './judge';
import type { QualityMetricsSource } from './quality-metrics';
import {
  firstMinuteReference,
  MIN_REFERENCE_SAMPLES,
  referenceHourSettledAt,
  type MeasuredLatencyReference,
} from './latency-reference';
import {
  createRolloutPolicy,
  DEFAULT_PUBLICATION_LAG_MINUTES,
  nextWeights,
  weightsForStep,
  type RolloutPolicy,
  type Verdict,
  type VariantWeights,
} from './policy';

/** One variant's figures for one minute, as recorded in a decision (docs/ROLLOUT.md, DecisionRecord). */
export interface VariantMinute {
  /** Requests in that minute (0 when none). */
  readonly invocations: number;
  /** 5xx (`Invocation5XXErrors`) in that minute. */
  readonly errors: number;
  /** `ModelLatency` p50 in milliseconds, null without data. */
  readonly p50Ms: number | null;
  /** `ModelLatency` p99 in milliseconds, null without data. */
  readonly p99Ms: number | null;
}

/** One judge decision, as the state machine threads it through the rollout and the dossier shows it. */
export interface DecisionRecord {
  /** ISO-8601, when the judge decided. */
  readonly judgedAt: string;
  /** Index into policy.steps of the step being judged. */
  readonly stepIndex: number;
  /** Canary weight (percent) in service while judged. */
  readonly canaryWeight: number;
  readonly verdict: Verdict;
  /** The judge's sentence for people. */
  readonly reason: string;
  /** ISO start of the newest COMPLETE minute used, null if none. */
  readonly minute: string | null;
  /** That minute's figures, null when no complete minute. */
  readonly baseline: VariantMinute | null;
  readonly canary: VariantMinute | null;
  /** Online prediction quality over the rollout so far; absent when the rollout does not judge it. */
  readonly quality?: DecisionQuality;
}

/** A decision's prediction quality, as the dossier shows it (shares and accuracies are fractions). */
export interface DecisionQuality {
  /** Accuracy on the traffic source's labelled answers, per variant (null without any), and how many. */
  readonly accuracy: {
    readonly baseline: number | null;
    readonly canary: number | null;
    readonly baselineLabelled: number;
    readonly canaryLabelled: number;
  };
  /** Share of answers per predicted class, per variant (null without answers). */
  readonly distribution: {
    readonly classes: readonly string[];
    readonly baseline: readonly number[] | null;
    readonly canary: readonly number[] | null;
  };
  /** Total variation between the two distributions (null without answers on both sides). */
  readonly tv: number | null;
}

/** How many decisions a rollout keeps (the newest); bounds the state machine's payload. */
export const MAX_DECISIONS = 400;

/** The baseline latency a rollout's latency thresholds derive from, as the handler reports it. */
export interface LatencyReferenceRecord {
  /** The baseline's hour before the rollout, or (no traffic then) its first complete rollout minute. */
  readonly source: 'pre-rollout-hour' | 'first-rollout-minute';
  /** ISO start of the period it was read from. */
  readonly periodStart: string;
  /** Baseline `ModelLatency` p50 and p99 in that period, milliseconds. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** How many `ModelLatency` samples they were computed from. */
  readonly samples: number;
  /** `latencyThresholds(policy, reference).values`, ms: the `PR(:v)` thresholds counted per minute. */
  readonly thresholdsMs: readonly number[];
  /**
   * The baseline's Invocation5XXErrors ÷ Invocations over the pre-rollout hour (as the judge read it); it
   * picks the judge's error promote split. Null for a first-rollout-minute reference or fewer than 100
   * requests with both sums.
   */
  readonly baselineErrorRate: number | null;
}

/** State machine input. Times are ISO-8601 strings (e.g. `$$.State.EnteredTime`) or epoch milliseconds. */
export interface JudgeInput {
  readonly endpointName: string;
  readonly baselineVariant: string;
  readonly canaryVariant: string;
  readonly canaryAlarmNames: readonly string[];
  readonly stepIndex: number;
  readonly stepStartedAt: string | number;
  readonly rolloutStartedAt: string | number;
  /** A RolloutPolicy as JSON; validated on every call. */
  readonly policy: unknown;
  /** The decisions of this rollout so far (the previous answer's `decisions`). @default [] */
  readonly decisions?: readonly DecisionRecord[];
  /**
   * Where the prediction-quality counts are (the stage's metric namespace) and the predicted classes
   * to compare; without it the judge weighs errors and latency only.
   */
  readonly quality?: QualityMetricsSource;
}

/** What the state machine branches on: the verdict and where it leads. */
export interface JudgeOutput {
  readonly verdict: Verdict;
  readonly reason: string;
  /** Step index after applying the verdict (unchanged on wait and rollback). */
  readonly nextStepIndex: number;
  /** Variant weights to apply after the verdict, keyed by variant name. */
  readonly weights: Readonly<Record<string, number>>;
  /** True when this verdict ends the rollout: rollback, or promotion to canary 100 %. */
  readonly done: boolean;
  readonly judgedAt: string;
  readonly evidence: EvidenceSummary;
  /**
   * Where the latency thresholds come from; null while there is none (the pre-rollout hour is not
   * published yet, or neither it nor any complete rollout minute has baseline latency).
   */
  readonly latencyReference?: LatencyReferenceRecord | null;
  /** The input's decisions with this one appended, keeping only the newest MAX_DECISIONS. */
  readonly decisions: readonly DecisionRecord[];
}

/** Input the handler cannot judge; the state machine should treat it as a failed rollout. */
export class InvalidJudgeInputError extends Error {
  override readonly name = 'InvalidJudgeInputError';
}

/** Logging the handler needs; satisfied by a Powertools Logger. */
export interface DecisionLog {
  info(message: string, attributes: Record<string, unknown>): void;
}

/** Collaborators of the handler, created once at cold start. */
export interface JudgeHandlerDeps {
  readonly metrics: RolloutMetrics;
  readonly log: DecisionLog;
  readonly now: () => number;
}

const PERIOD_SECONDS = 60;

function time(value: unknown, field: string): number {
  const ms = typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) : NaN;
  if (!Number.isFinite(ms)) throw new InvalidJudgeInputError(`${field} must be an ISO-8601 time or epoch ms`);
  return ms;
}

function text(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidJudgeInputError(`${field} must be a non-empty string`);
  }
  return value;
}

function variantMinute(figures: UsedVariantMinute): VariantMinute {
  return { invocations: figures.invocations, errors: figures.errors, p50Ms: figures.p50, p99Ms: figures.p99 };
}

function decisionQuality(quality: QualitySummary): DecisionQuality {
  return {
    accuracy: {
      baseline: quality.accuracy.baseline.accuracy,
      canary: quality.accuracy.canary.accuracy,
      baselineLabelled: quality.accuracy.baseline.labelled,
      canaryLabelled: quality.accuracy.canary.labelled,
    },
    distribution: {
      classes: quality.distribution.classes,
      baseline: quality.distribution.baseline.shares,
      canary: quality.distribution.canary.shares,
    },
    tv: quality.tv,
  };
}

/** The record of one judgement (the adapter reports latency in milliseconds). */
export function decisionRecord(judgement: Judgement, judgedAt: string): DecisionRecord {
  const newest = judgement.newestPeriod;
  const quality = judgement.summary.quality;
  return {
    judgedAt,
    stepIndex: judgement.summary.stepIndex,
    canaryWeight: judgement.summary.canaryWeight,
    verdict: judgement.verdict,
    reason: judgement.reason,
    minute: newest ? new Date(newest.start).toISOString() : null,
    baseline: newest ? variantMinute(newest.baseline) : null,
    canary: newest ? variantMinute(newest.canary) : null,
    ...(quality ? { quality: decisionQuality(quality) } : {}),
  };
}

function qualitySource(value: unknown): QualityMetricsSource | undefined {
  if (value === undefined || value === null) return undefined;
  const source = value as Partial<QualityMetricsSource>;
  if (
    typeof source.namespace !== 'string' ||
    source.namespace.length === 0 ||
    !Array.isArray(source.classes) ||
    source.classes.length < 2 ||
    !source.classes.every((c) => typeof c === 'string' && c.length > 0)
  ) {
    throw new InvalidJudgeInputError(
      'quality must be {namespace: string, classes: string[]} with at least two predicted classes',
    );
  }
  return { namespace: source.namespace, classes: [...source.classes] };
}

function previousDecisions(value: unknown): readonly DecisionRecord[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value))
    throw new InvalidJudgeInputError('decisions must be an array of decision records');
  // The records are the handler's own earlier answers, carried by the state machine; a record that is
  // not even an object means the input was assembled wrongly, which must not pass silently.
  for (const record of value as unknown[]) {
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      throw new InvalidJudgeInputError('decisions must be an array of decision records');
    }
  }
  return value as DecisionRecord[];
}

interface FoundReference {
  readonly reference: MeasuredLatencyReference;
  readonly source: LatencyReferenceRecord['source'];
}

/** The reference found, and the minutes read (without thresholds) to find it, if any. */
interface ReferenceSearch {
  readonly found: FoundReference | null;
  readonly unthresholded?: PeriodMetrics[];
}

/**
 * The rollout's latency reference: the baseline's hour before the rollout once it is published and
 * holds MIN_REFERENCE_SAMPLES, else the first published rollout minute with baseline latency.
 */
async function findReference(args: {
  readonly metrics: RolloutMetrics;
  readonly endpointName: string;
  readonly baselineVariant: string;
  readonly rolloutStartedAt: number;
  readonly now: number;
  readonly lagMs: number;
  /** Reads the rollout's minutes without thresholds. */
  readonly minutes: () => Promise<PeriodMetrics[]>;
}): Promise<ReferenceSearch> {
  const { metrics, endpointName, baselineVariant, rolloutStartedAt, now, lagMs } = args;
  if (now < referenceHourSettledAt(rolloutStartedAt, lagMs / 60_000)) return { found: null };
  const hour = await metrics.latencyReference({ endpointName, variant: baselineVariant, rolloutStartedAt });
  if (hour && hour.samples >= MIN_REFERENCE_SAMPLES) {
    return { found: { reference: hour, source: 'pre-rollout-hour' } };
  }
  const unthresholded = await args.minutes();
  const minute = firstMinuteReference(unthresholded, rolloutStartedAt, now, lagMs / 60_000, PERIOD_SECONDS);
  return { found: minute ? { reference: minute, source: 'first-rollout-minute' } : null, unthresholded };
}

function judgeReference({ p50, p99, periodStart }: MeasuredLatencyReference): LatencyReference {
  return { p50, p99, periodStart };
}

function referenceRecord(
  found: FoundReference,
  policy: RolloutPolicy,
  summary: EvidenceSummary,
): LatencyReferenceRecord {
  return {
    source: found.source,
    periodStart: new Date(found.reference.periodStart).toISOString(),
    p50Ms: found.reference.p50,
    p99Ms: found.reference.p99,
    samples: found.reference.samples,
    thresholdsMs: latencyThresholds(policy, judgeReference(found.reference)).values,
    baselineErrorRate: summary.errorTest.baselineErrorRateBefore,
  };
}

/** The baseline's minutes before the rollout: only a pre-rollout-hour reference has them. */
function hourBefore(found: FoundReference | null): readonly BaselineMinute[] {
  return found?.source === 'pre-rollout-hour' ? (found.reference.minutes ?? []) : [];
}

/** Builds the handler around its adapters, so tests can pass fakes. */
export function createJudgeHandler(deps: JudgeHandlerDeps): (input: JudgeInput) => Promise<JudgeOutput> {
  return async (input) => {
    const policy = createRolloutPolicy(input.policy);
    const endpointName = text(input.endpointName, 'endpointName');
    const baselineVariant = text(input.baselineVariant, 'baselineVariant');
    const canaryVariant = text(input.canaryVariant, 'canaryVariant');
    const alarmNames = Array.isArray(input.canaryAlarmNames)
      ? input.canaryAlarmNames.map((n) => text(n, 'canaryAlarmNames[]'))
      : [];
    const { stepIndex } = input;
    if (!Number.isInteger(stepIndex) || stepIndex < 0 || stepIndex >= policy.steps.length) {
      throw new InvalidJudgeInputError(`stepIndex must be an integer in [0, ${policy.steps.length - 1}]`);
    }
    const decisions = previousDecisions(input.decisions);
    const quality = qualitySource(input.quality);
    const rolloutStartedAt = time(input.rolloutStartedAt, 'rolloutStartedAt');
    const stepStartedAt = time(input.stepStartedAt, 'stepStartedAt');
    const now = deps.now();
    const periodMs = PERIOD_SECONDS * 1000;
    const lagMs = (policy.publicationLagMinutes ?? DEFAULT_PUBLICATION_LAG_MINUTES) * 60_000;
    const minutes = (latencyThresholdsMs?: readonly number[]) =>
      deps.metrics.variantMetrics({
        endpointName,
        baselineVariant,
        canaryVariant,
        // Periods that began before the rollout may hold another version's traffic; the judge drops them.
        start: new Date(Math.ceil(rolloutStartedAt / periodMs) * periodMs),
        end: new Date(Math.floor(now / periodMs) * periodMs),
        periodSeconds: PERIOD_SECONDS,
        ...(latencyThresholdsMs ? { latencyThresholdsMs } : {}),
        ...(quality ? { quality } : {}),
      });
    const [alarms, { found, unthresholded }] = await Promise.all([
      deps.metrics.alarmStates(alarmNames),
      findReference({
        metrics: deps.metrics,
        endpointName,
        baselineVariant,
        rolloutStartedAt,
        now,
        lagMs,
        minutes,
      }),
    ]);
    // The thresholds depend on the reference, so the per-minute counts are a second read.
    const periods = found
      ? await minutes(latencyThresholds(policy, judgeReference(found.reference)).values)
      : (unthresholded ?? (await minutes()));
    const judgement = judge(
      {
        alarms,
        periods,
        periodSeconds: PERIOD_SECONDS,
        stepIndex,
        stepStartedAt,
        rolloutStartedAt,
        latencyReference: found ? judgeReference(found.reference) : null,
        baselineHourBefore: hourBefore(found),
        quality: quality ? { classes: quality.classes } : null,
      },
      policy,
      now,
    );
    const current: VariantWeights = weightsForStep(policy, stepIndex);
    const next = nextWeights(current, judgement.verdict, policy);
    const judgedAt = new Date(now).toISOString();
    const output: JudgeOutput = {
      verdict: judgement.verdict,
      reason: judgement.reason,
      nextStepIndex:
        judgement.verdict === 'promote' ? Math.min(stepIndex + 1, policy.steps.length - 1) : stepIndex,
      weights: { [baselineVariant]: next.baseline, [canaryVariant]: next.canary },
      done: judgement.verdict === 'rollback' || (judgement.verdict === 'promote' && next.canary === 100),
      judgedAt,
      evidence: judgement.summary,
      latencyReference: found ? referenceRecord(found, policy, judgement.summary) : null,
      decisions: [...decisions, decisionRecord(judgement, judgedAt)].slice(-MAX_DECISIONS),
    };
    // The log line carries this decision's evidence; the history is in the execution's state.
    deps.log.info('rollout decision', {
      endpointName,
      baselineVariant,
      canaryVariant,
      ...output,
      decisions: undefined,
      decisionCount: output.decisions.length,
    });
    return output;
  };
}

const logger = new Logger({ serviceName: 'rollout-judge' });

/** The deployed handler: AWS clients are created once per container, at cold start. */
export const handler = createJudgeHandler({
  metrics: new CloudWatchRolloutMetrics(new CloudWatchClient({})),
  log: { info: (message, attributes) => logger.info(message, attributes) },
  now: Date.now,
});
