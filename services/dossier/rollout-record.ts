/**
 * The canary rollout's recorded outcome as `scripts/run-rollout.sh --output FILE` writes it
 * (docs/CONTRACTS.md: RolloutRecord on success, `{outcome, error, cause}` on failure). The decisions
 * are the judge handler's own records.
 */
import type { DecisionRecord, VariantMinute } from '../rollout/judge-handler';
import { createRolloutPolicy, RolloutPolicyError, type RolloutPolicy } from '../rollout/policy';
import { Fields } from './fields';
import { onlineQualityOf, QualityRecordError, type OnlineQuality } from './quality';

export type { DecisionRecord, VariantMinute } from '../rollout/judge-handler';

/** The state machine's output on SUCCEEDED. */
export interface RolloutRecord {
  readonly outcome: 'promoted' | 'already-promoted';
  readonly endpointName: string;
  readonly baselineVersion: string;
  readonly candidateVersion: string;
  readonly policy: RolloutPolicy;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly decisions: readonly DecisionRecord[];
  readonly traffic: { readonly mode: 'off' | 'always' | 'top-up' };
  /** Online prediction quality of the newest decision that recorded it; null when none did. */
  readonly onlineQuality?: OnlineQuality | null;
}

/** What run-rollout.sh writes when the rollout did not succeed. */
export interface RolloutFailure {
  readonly outcome: 'rolled-back' | 'failed';
  readonly error: string;
  readonly cause: string;
}

/** Thrown when a rollout file is not a record of the contract's shape; says which field is wrong. */
export class RolloutRecordError extends Error {
  override readonly name = 'RolloutRecordError';
}

const OUTCOMES = ['promoted', 'already-promoted', 'rolled-back', 'failed'] as const;
const VERDICTS = ['wait', 'promote', 'rollback'] as const;
const TRAFFIC_MODES = ['off', 'always', 'top-up'] as const;

function minuteOf(f: Fields, field: string): VariantMinute | null {
  const m = f.objectOrNull(field);
  if (!m) return null;
  return {
    invocations: m.number('invocations', { min: 0 }),
    errors: m.number('errors', { min: 0 }),
    p50Ms: m.numberOrNull('p50Ms'),
    p99Ms: m.numberOrNull('p99Ms'),
  };
}

function decisionOf(item: unknown, where: string): DecisionRecord {
  const d = Fields.of(item, where, RolloutRecordError);
  return {
    judgedAt: d.iso('judgedAt'),
    stepIndex: d.number('stepIndex', { min: 0, integer: true }),
    canaryWeight: d.number('canaryWeight', { min: 0, max: 100 }),
    verdict: d.oneOf('verdict', VERDICTS),
    reason: d.string('reason'),
    minute: d.isoOrNull('minute', ' or null'),
    baseline: minuteOf(d, 'baseline'),
    canary: minuteOf(d, 'canary'),
  };
}

/**
 * Parses and checks a rollout file's JSON: a {@link RolloutRecord} or a {@link RolloutFailure}, rebuilt
 * from its checked fields (the policy as `createRolloutPolicy` validates it).
 */
export function parseRolloutRecord(json: string): RolloutRecord | RolloutFailure {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new RolloutRecordError(`not JSON: ${(error as Error).message}`);
  }
  const r = Fields.of(value, '', RolloutRecordError);
  const outcome = r.oneOf('outcome', OUTCOMES);
  if (outcome === 'rolled-back' || outcome === 'failed')
    return { outcome, error: r.string('error'), cause: r.string('cause') };
  let policy: RolloutPolicy;
  try {
    policy = createRolloutPolicy((value as Record<string, unknown>).policy);
  } catch (error) {
    if (error instanceof RolloutPolicyError)
      throw new RolloutRecordError(`policy must be a valid rollout policy: ${error.problems.join('; ')}`);
    throw error;
  }
  const decisions = r.array('decisions', decisionOf);
  const stepCount = policy.steps.length;
  decisions.forEach((d, i) => {
    if (d.stepIndex >= stepCount)
      throw new RolloutRecordError(
        `decisions[${i}].stepIndex must name one of the policy's ${stepCount} steps`,
      );
  });
  return {
    outcome,
    endpointName: r.string('endpointName'),
    baselineVersion: r.string('baselineVersion'),
    candidateVersion: r.string('candidateVersion'),
    policy,
    startedAt: r.iso('startedAt'),
    finishedAt: r.iso('finishedAt'),
    decisions,
    traffic: { mode: r.object('traffic').oneOf('mode', TRAFFIC_MODES) },
    onlineQuality: onlineQuality((value as { decisions?: unknown }).decisions),
  };
}

function onlineQuality(decisions: unknown): OnlineQuality | null {
  try {
    return onlineQualityOf(decisions);
  } catch (error) {
    if (error instanceof QualityRecordError) throw new RolloutRecordError(error.message);
    throw error;
  }
}

/** Whether a parsed rollout file is a failure. */
export const isRolloutFailure = (r: RolloutRecord | RolloutFailure): r is RolloutFailure =>
  r.outcome === 'rolled-back' || r.outcome === 'failed';
