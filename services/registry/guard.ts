import type { RegistrySnapshot } from './adapters/registry';
import {
  compareVersions,
  MODEL_VERSIONS_DISPLAY,
  type StageKey,
  type StageModelVersions,
} from './model-versions';

/** One reason the commit may not deploy: the field to change and the value to set. */
export interface GuardProblem {
  /** `<stage>.baselineVersion` or `<stage>.candidateVersion` in config/model-versions.json. */
  readonly field: string;
  /** What the commit says. */
  readonly value: string;
  /** What to set instead (a version, or a description when several values would do). */
  readonly set: string;
  readonly message: string;
}

/** `reports/guard.json` (docs/CONTRACTS.md): what the guard checked and decided. */
export interface GuardReport {
  readonly stage: StageKey;
  readonly outcome: 'pass' | 'fail';
  /** The commit the pipeline runs, when known. */
  readonly commit?: string;
  readonly checkedAt: string;
  /** What the commit says. */
  readonly config: StageModelVersions;
  /** What the stage's registry says. */
  readonly registry: {
    readonly prefix: string;
    readonly activeVersion: string | null;
    readonly baselineStatus: string;
    readonly candidateStatus: string;
  };
  /** Present when the commit deliberately serves an older baseline; the dossier shows it. */
  readonly intendedRollback?: {
    readonly fromVersion: string;
    readonly toVersion: string;
    readonly reason: string;
  };
  readonly problems: readonly GuardProblem[];
  /** Other facts worth a line in the output. */
  readonly notes: readonly string[];
}

/** Inputs of {@link guard}. */
export interface GuardInput {
  readonly stage: StageKey;
  readonly versions: StageModelVersions;
  readonly registry: RegistrySnapshot;
  readonly commit?: string;
  readonly now: Date;
}

/**
 * Decides whether a commit's model versions may deploy to a stage, given what the stage's registry
 * recorded: it fails when the baseline is older than the version the stage serves (a silent
 * downgrade) unless the commit declares that rollback, and when the baseline or the candidate was
 * already rejected there.
 */
export function guard(input: GuardInput): GuardReport {
  const { stage, versions, registry } = input;
  const { baselineVersion: baseline, candidateVersion: candidate, rollback } = versions;
  const active = registry.activeVersion;
  const field = (name: keyof StageModelVersions) => `${stage}.${name}`;
  const problems: GuardProblem[] = [];
  const notes: string[] = [];
  let intendedRollback: GuardReport['intendedRollback'];
  const where = `${MODEL_VERSIONS_DISPLAY}`;
  const converge = `npm run converge -- --stage ${stage}`;

  if (active === undefined) {
    notes.push(`${registry.prefix}/active-version does not exist: ${stage} has no recorded decision yet`);
  } else {
    const order = compareVersions(baseline, active);
    if (order === undefined) {
      problems.push({
        field: field('baselineVersion'),
        value: baseline,
        set: active,
        message: `${where}: ${field('baselineVersion')} "${baseline}" cannot be ordered against "${active}", which ${stage} serves (${registry.prefix}/active-version); set "baselineVersion": "${active}"`,
      });
    } else if (order < 0 && rollback) {
      intendedRollback = { fromVersion: active, toVersion: baseline, reason: rollback.reason };
      notes.push(
        `intended rollback of ${stage} from ${active} to ${baseline} (${field('rollback')}): ${rollback.reason}`,
      );
    } else if (order < 0) {
      problems.push({
        field: field('baselineVersion'),
        value: baseline,
        set: active,
        message:
          `${where}: ${field('baselineVersion')} is "${baseline}" but ${stage} serves "${active}" ` +
          `(${registry.prefix}/active-version), so this deploy would put the older model back in front of users. ` +
          `Set "baselineVersion": "${active}" (${converge} does it), or, to roll back on purpose, ` +
          `add "rollback": {"toVersion": "${baseline}", "reason": "..."} to ${stage}.`,
      });
    } else if (rollback) {
      notes.push(
        `${field('rollback')} is set but ${baseline} is not older than what ${stage} serves (${active}); remove it (${converge} does)`,
      );
    }
  }

  const statusOf = (version: string) => registry.statuses[version] ?? 'missing';
  if (statusOf(baseline) === 'rejected') {
    problems.push({
      field: field('baselineVersion'),
      value: baseline,
      set: active ?? 'a version that was not rejected',
      message: `${where}: ${field('baselineVersion')} "${baseline}" was rejected by a canary rollout in ${stage} (${registry.prefix}/versions/${baseline}); set "baselineVersion": "${active ?? '<a version not rejected>'}"`,
    });
  }
  if (candidate !== baseline && statusOf(candidate) === 'rejected') {
    const served = active ?? baseline;
    problems.push({
      field: field('candidateVersion'),
      value: candidate,
      set: `${served} (nothing proposed) or a new version`,
      message:
        `${where}: ${field('candidateVersion')} "${candidate}" was already rejected by a canary rollout in ${stage} ` +
        `(${registry.prefix}/versions/${candidate} status "rejected"); set "candidateVersion": "${served}" ` +
        `(nothing proposed) or propose a new version.`,
    });
  }
  for (const version of new Set([baseline, candidate])) {
    if (statusOf(version) === 'unreadable') {
      notes.push(`${registry.prefix}/versions/${version} has no readable status; treated as not decided`);
    }
  }

  return {
    stage,
    outcome: problems.length > 0 ? 'fail' : 'pass',
    ...(input.commit ? { commit: input.commit } : {}),
    checkedAt: input.now.toISOString(),
    config: versions,
    registry: {
      prefix: registry.prefix,
      activeVersion: active ?? null,
      baselineStatus: statusOf(baseline),
      candidateStatus: statusOf(candidate),
    },
    ...(intendedRollback ? { intendedRollback } : {}),
    problems,
    notes,
  };
}
