import type { RegistrySnapshot } from './adapters/registry';
import type { StageKey, StageModelVersions } from './model-versions';

/** What the registry says happened to the stage's candidate. */
export type Decision = 'promotion' | 'rollback' | 'served-differs' | 'none' | 'intended-rollback';

/** The converged settings of one stage and why. */
export interface ConvergencePlan {
  readonly stage: StageKey;
  readonly decision: Decision;
  readonly next: StageModelVersions;
  readonly changed: boolean;
  /** One line for the output and the commit message. */
  readonly summary: string;
}

/**
 * The stage's model-version settings after its last decision: the baseline becomes what the stage
 * serves (`active-version`); a decided candidate (promoted or rejected) stops being proposed, so both
 * variants serve that version; an undecided candidate stays. A declared rollback whose deploy has
 * not reached the registry yet is kept, so converging never undoes a deliberate rollback.
 */
export function planConvergence(
  stage: StageKey,
  current: StageModelVersions,
  registry: RegistrySnapshot,
): ConvergencePlan {
  const active = registry.activeVersion;
  const plan = (decision: Decision, next: StageModelVersions, summary: string): ConvergencePlan => ({
    stage,
    decision,
    next,
    changed: JSON.stringify(next) !== JSON.stringify(current),
    summary,
  });
  if (active === undefined) {
    return plan(
      'none',
      current,
      `${stage}: the registry records nothing yet (${registry.prefix}/active-version does not exist)`,
    );
  }
  const { rollback } = current;
  // A declared rollback whose deploy did not reach active-version (see docs/ROLLOUT.md, known limits).
  const rollbackPending =
    rollback !== undefined &&
    rollback.toVersion === current.baselineVersion &&
    current.baselineVersion !== active;
  const proposed = current.candidateVersion !== current.baselineVersion;
  const candidateStatus = registry.statuses[current.candidateVersion];
  if (proposed && candidateStatus === 'active') {
    return plan(
      'promotion',
      { baselineVersion: active, candidateVersion: active },
      `${stage}: ${current.candidateVersion} was promoted; it becomes the baseline`,
    );
  }
  if (proposed && candidateStatus === 'rejected') {
    // After a rejection VariantA serves everything: the registry's version, or the declared rollback's.
    const served = rollbackPending ? current.baselineVersion : active;
    return plan(
      'rollback',
      { baselineVersion: served, candidateVersion: served, ...(rollbackPending ? { rollback } : {}) },
      `${stage}: ${current.candidateVersion} was rejected and rolled back; ${served} stays the baseline and is no longer challenged`,
    );
  }
  if (rollbackPending) {
    return plan(
      'intended-rollback',
      current,
      `${stage}: keeps the declared rollback to ${current.baselineVersion} (${rollback.reason}); the registry still records ${active} as served`,
    );
  }
  if (current.baselineVersion !== active) {
    return plan(
      'served-differs',
      { baselineVersion: active, candidateVersion: current.candidateVersion },
      `${stage}: serves ${active} (${registry.prefix}/active-version); it becomes the baseline`,
    );
  }
  const next: StageModelVersions = {
    baselineVersion: current.baselineVersion,
    candidateVersion: current.candidateVersion,
  };
  return plan(
    'none',
    next,
    rollback
      ? `${stage}: the rollback to ${active} is recorded; the rollback field is no longer needed`
      : `${stage}: already converged: baseline ${active} is what the stage serves; candidate ${current.candidateVersion} not decided yet`,
  );
}

/**
 * A unified diff of two texts (whole-file context, as the model-versions file is a dozen lines), or
 * an empty string when they are equal.
 */
export function unifiedDiff(file: string, before: string, after: string): string {
  if (before === after) return '';
  const a = before.replace(/\n$/, '').split('\n');
  const b = after.replace(/\n$/, '').split('\n');
  // Longest common subsequence table, then walk it.
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const lines = [`--- a/${file}`, `+++ b/${file}`, `@@ -1,${a.length} +1,${b.length} @@`];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      lines.push(` ${a[i]}`);
      i++;
      j++;
    } else if (i < a.length && (j === b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      lines.push(`-${a[i]}`);
      i++;
    } else {
      lines.push(`+${b[j]}`);
      j++;
    }
  }
  return `${lines.join('\n')}\n`;
}
