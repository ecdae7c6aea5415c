/**
 * The canary rollout's recorded outcome as `scripts/run-rollout.sh --output FILE` writes it
 * (docs/CONTRACTS.md: RolloutRecord on success, `{outcome, error, cause}` on failure). The decisions
 * are the judge handler's own records.
 */
import type { DecisionRecord } from '../rollout/judge-handler';
import type { RolloutPolicy } from '../rollout/policy';

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

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const isIso = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v));

function checkMinute(v: unknown, where: string): void {
  if (v === null) return;
  if (!isObject(v)) throw new RolloutRecordError(`${where} must be an object or null`);
  for (const field of ['invocations', 'errors'] as const) {
    if (typeof v[field] !== 'number' || !Number.isFinite(v[field]) || (v[field] as number) < 0)
      throw new RolloutRecordError(`${where}.${field} must be a number ≥ 0`);
  }
  for (const field of ['p50Ms', 'p99Ms'] as const) {
    if (v[field] !== null && (typeof v[field] !== 'number' || !Number.isFinite(v[field])))
      throw new RolloutRecordError(`${where}.${field} must be a number or null`);
  }
}

/** Parses and checks a rollout file's JSON: a {@link RolloutRecord} or a {@link RolloutFailure}. */
export function parseRolloutRecord(json: string): RolloutRecord | RolloutFailure {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new RolloutRecordError(`not JSON: ${(error as Error).message}`);
  }
  if (!isObject(value)) throw new RolloutRecordError('must be a JSON object');
  if (value.outcome === 'rolled-back' || value.outcome === 'failed') {
    return { outcome: value.outcome, error: String(value.error ?? ''), cause: String(value.cause ?? '') };
  }
  if (value.outcome !== 'promoted' && value.outcome !== 'already-promoted') {
    throw new RolloutRecordError(
      `outcome must be promoted, already-promoted, rolled-back or failed, got ${JSON.stringify(value.outcome)}`,
    );
  }
  for (const field of ['endpointName', 'baselineVersion', 'candidateVersion'] as const) {
    if (typeof value[field] !== 'string') throw new RolloutRecordError(`${field} must be a string`);
  }
  for (const field of ['startedAt', 'finishedAt'] as const) {
    if (!isIso(value[field])) throw new RolloutRecordError(`${field} must be an ISO-8601 time`);
  }
  const policy = value.policy;
  if (!isObject(policy) || !Array.isArray(policy.steps)) {
    throw new RolloutRecordError('policy must be the rollout policy (with steps)');
  }
  if (!Array.isArray(value.decisions)) throw new RolloutRecordError('decisions must be an array');
  value.decisions.forEach((d: unknown, i: number) => {
    const where = `decisions[${i}]`;
    if (!isObject(d)) throw new RolloutRecordError(`${where} must be an object`);
    if (!isIso(d.judgedAt)) throw new RolloutRecordError(`${where}.judgedAt must be an ISO-8601 time`);
    if (d.verdict !== 'wait' && d.verdict !== 'promote' && d.verdict !== 'rollback')
      throw new RolloutRecordError(`${where}.verdict must be wait, promote or rollback`);
    if (typeof d.canaryWeight !== 'number')
      throw new RolloutRecordError(`${where}.canaryWeight must be a number`);
    if (typeof d.stepIndex !== 'number') throw new RolloutRecordError(`${where}.stepIndex must be a number`);
    if (d.minute !== null && !isIso(d.minute))
      throw new RolloutRecordError(`${where}.minute must be an ISO-8601 time or null`);
    checkMinute(d.baseline, `${where}.baseline`);
    checkMinute(d.canary, `${where}.canary`);
  });
  return value as unknown as RolloutRecord;
}

/** Whether a parsed rollout file is a failure. */
export const isRolloutFailure = (r: RolloutRecord | RolloutFailure): r is RolloutFailure =>
  r.outcome === 'rolled-back' || r.outcome === 'failed';
