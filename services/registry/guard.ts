import type { RegistrySnapshot } from './adapters/registry';
import {
  compareVersions,
  MODEL_VERSIONS_DISPLAY,
  type StageKey,
  type StageModelVersions,
} from './model-versions';
import { rejectedArchiveParameter } from './rejections';

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
  /** SHA-256 of each version's model archive in the commit. */
  readonly archives: Readonly<Record<string, string>>;
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
  /** SHA-256 of each version's model archive in this commit (baseline and candidate). */
  readonly archives: Readonly<Record<string, string>>;
  readonly commit?: string;
  readonly now: Date;
}

/**
 * Decides whether a commit's model versions may deploy to a stage, given what the stage's registry
 * recorded: it fails when the baseline is older than the version the stage serves (a silent
 * downgrade) or the candidate is older than it (a rollout that would promote an older model) unless
 * the commit declares that rollback, when the baseline or the candidate was already rejected there, by
 * name or by content (an archive a rollout rejected, under any name), and when the registry holds a
 * document it cannot read (it cannot tell, so it does not pass).
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
    } else if (order < 0 && rollback?.toVersion === baseline) {
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
    }
    const candidateOrder = candidate === baseline ? 0 : compareVersions(candidate, active);
    if (candidateOrder === undefined || (candidateOrder < 0 && rollback?.toVersion !== candidate)) {
      problems.push({
        field: field('candidateVersion'),
        value: candidate,
        set: `${active} (nothing proposed) or a newer version`,
        message:
          `${where}: ${field('candidateVersion')} is "${candidate}" but ${stage} serves "${active}" ` +
          `(${registry.prefix}/active-version): a rollout would promote ${candidateOrder === undefined ? 'a model it cannot order' : 'the older model'}. ` +
          `Set "candidateVersion": "${active}" (nothing proposed) or a newer version, or, to propose it on purpose, ` +
          `add "rollback": {"toVersion": "${candidate}", "reason": "..."} to ${stage}.`,
      });
    } else if (candidateOrder < 0) {
      notes.push(
        `intended rollback proposal in ${stage}: candidate ${candidate} is older than ${active} (${field('rollback')}): ${rollback!.reason}`,
      );
    }
    if (rollback && !intendedRollback && !(candidateOrder !== undefined && candidateOrder < 0)) {
      notes.push(
        `${field('rollback')} is set but ${rollback.toVersion} is not older than what ${stage} serves (${active}); remove it (${converge} does)`,
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
  for (const [name, version] of [
    ['baselineVersion', baseline],
    ['candidateVersion', candidate],
  ] as const) {
    if (name === 'candidateVersion' && candidate === baseline) continue;
    const sha256 = input.archives[version];
    const rejectedAs = sha256 === undefined ? undefined : registry.rejectedArchives[sha256];
    if (sha256 === undefined) {
      problems.push({
        field: field(name),
        value: version,
        set: 'a version whose models/<version>/model.tar.gz is in this commit',
        message: `${where}: ${field(name)} "${version}": its model archive was not found, so it cannot be compared with the archives rejected in ${stage}`,
      });
    } else if (rejectedAs !== undefined && statusOf(version) !== 'rejected') {
      problems.push({
        field: field(name),
        value: version,
        set:
          name === 'candidateVersion'
            ? `${active ?? baseline} (nothing proposed) or a new model`
            : (active ?? 'a model not rejected'),
        message:
          `${where}: ${field(name)} "${version}" has the model archive a canary rollout rejected in ${stage} as "${rejectedAs}" ` +
          `(sha256 ${sha256}, ${rejectedArchiveParameter(registry.prefix, sha256)}); the same bytes under another name are the same model. ` +
          'Propose a new model.',
      });
    }
    if (statusOf(version) === 'unreadable') {
      problems.push({
        field: field(name),
        value: version,
        set: 'a version whose registry document is readable',
        message: `${registry.prefix}/versions/${version} exists but has no readable status, so the guard cannot tell whether a rollout rejected it; fix or delete that parameter`,
      });
    }
  }

  return {
    stage,
    outcome: problems.length > 0 ? 'fail' : 'pass',
    ...(input.commit ? { commit: input.commit } : {}),
    checkedAt: input.now.toISOString(),
    config: versions,
    archives: input.archives,
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
