/**
 * The approver's release dossier as data: what changed since the last approved release
 * (permissions first, then infrastructure per stack, then compliance), how dev's smoke test and
 * canary rollout went, and the model versions serving before and after. Pure: the CLI
 * (scripts/dossier.ts) reads the inputs and writes the renderings (render.ts).
 */
import type { ComplianceResult } from '../../scripts/compliance';
import { complianceChanges, type ComplianceChanges } from './compliance-changes';
import { diffStacks, type PermissionChange, type StackChanges } from './infra-diff';
import type { SmokeReport } from './junit';
import type { CommitInfo, Release, Synthesized } from './release';
import {
  isRolloutFailure,
  type DecisionRecord,
  type RolloutFailure,
  type RolloutRecord,
} from './rollout-record';
import { qualitySection, type OfflineQuality, type QualitySection } from './quality';
import type { RuleCatalog } from './rule-catalog';

/** The release the dossier compares against. */
export interface PreviousRelease {
  readonly id: string;
  readonly commit: CommitInfo;
  readonly recordedAt: string;
}

/** Infrastructure changes: per stack against the previous release, or the stacks alone on the first one. */
export type Infrastructure =
  | {
      readonly comparedWith: null;
      readonly stacks: readonly { readonly stack: string; readonly resources: number }[];
    }
  | { readonly comparedWith: string; readonly stacks: readonly StackChanges[] };

/** One step of the rollout policy and how it went. */
export interface RolloutStep {
  readonly index: number;
  readonly weight: number;
  readonly decisions: number;
  readonly firstJudgedAt: string | null;
  /** The step's last verdict, or null when it was never judged. */
  readonly verdict: DecisionRecord['verdict'] | null;
}

/** Dev's canary rollout. */
export type RolloutSection =
  | {
      readonly outcome: RolloutRecord['outcome'];
      readonly endpointName: string;
      readonly baselineVersion: string;
      readonly candidateVersion: string;
      readonly startedAt: string;
      readonly finishedAt: string;
      readonly minutes: number;
      readonly traffic: RolloutRecord['traffic']['mode'];
      readonly steps: readonly RolloutStep[];
      readonly record: RolloutRecord;
    }
  | RolloutFailure;

/** What a model version predicts and from what: its task and input width, labels for a classifier. */
export interface ModelShape {
  readonly version: string;
  readonly task: 'classification' | 'regression';
  readonly featureCount: number;
  /** A classifier's labels, in probability order; absent for a regressor. */
  readonly labels?: readonly string[];
}

/** `classification, 8 features, labels no, yes` or `regression, 6 features`. */
export function describeShape(shape: ModelShape): string {
  const features = `${shape.featureCount} feature${shape.featureCount === 1 ? '' : 's'}`;
  return shape.task === 'regression'
    ? `regression, ${features}`
    : `classification, ${features}, labels ${(shape.labels ?? []).join(', ')}`;
}

/** The dossier. */
export interface Dossier {
  readonly format: 'release-dossier/1';
  readonly generatedAt: string;
  readonly commit: CommitInfo;
  readonly executionId: string | null;
  readonly previous: PreviousRelease | null;
  /** One sentence: compared against nothing, no changes since X, or what changed. */
  readonly headline: string;
  /** Model quality, the first model section: offline evaluation, smoke truth check, online quality. */
  readonly quality: QualitySection;
  /** Permission changes of every stack, additions (new or widened) first. */
  readonly permissions: readonly PermissionChange[];
  readonly infrastructure: Infrastructure;
  readonly compliance: ComplianceChanges;
  readonly smoke: SmokeReport | null;
  readonly rollout: RolloutSection | null;
  /** Model versions serving in dev before and after the rollout (null when no rollout record was given). */
  readonly models: { readonly before: string | null; readonly after: string | null };
  /** Task and shape of each model version named above, from its metadata (those the CLI could read). */
  readonly modelShapes: readonly ModelShape[];
}

/** What {@link buildDossier} reads. */
export interface DossierInput {
  readonly commit: CommitInfo;
  readonly executionId: string | null;
  readonly synthesized: Synthesized;
  readonly compliance: ComplianceResult;
  readonly previous?: Release;
  readonly smoke?: SmokeReport;
  readonly rollout?: RolloutRecord | RolloutFailure;
  /** Dev's offline evaluation (the Build's cdk.out/quality/dev.json). */
  readonly evaluation?: OfflineQuality;
  readonly catalog: RuleCatalog;
  readonly now: Date;
  /** Shapes of model versions; those of the versions serving before and after are shown. @default none */
  readonly modelShapes?: readonly ModelShape[];
}

function rolloutSection(record: RolloutRecord | RolloutFailure): RolloutSection {
  if (isRolloutFailure(record)) return record;
  const steps = record.policy.steps.map((weight, index) => {
    const own = record.decisions.filter((d) => d.stepIndex === index);
    return {
      index,
      weight,
      decisions: own.length,
      firstJudgedAt: own[0]?.judgedAt ?? null,
      verdict: own.at(-1)?.verdict ?? null,
    };
  });
  return {
    outcome: record.outcome,
    endpointName: record.endpointName,
    baselineVersion: record.baselineVersion,
    candidateVersion: record.candidateVersion,
    startedAt: record.startedAt,
    finishedAt: record.finishedAt,
    minutes: Math.round((Date.parse(record.finishedAt) - Date.parse(record.startedAt)) / 60_000),
    traffic: record.traffic.mode,
    steps,
    record,
  };
}

function modelVersions(record: RolloutRecord | RolloutFailure | undefined): Dossier['models'] {
  if (!record || isRolloutFailure(record)) return { before: null, after: null };
  if (record.outcome === 'already-promoted')
    return { before: record.candidateVersion, after: record.candidateVersion };
  return { before: record.baselineVersion, after: record.candidateVersion };
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** Builds the dossier from its inputs. */
export function buildDossier(input: DossierInput): Dossier {
  const { previous } = input;
  const compliance = complianceChanges(input.compliance, previous?.compliance, input.catalog);
  let infrastructure: Infrastructure;
  let permissions: PermissionChange[] = [];
  let headline: string;
  if (!previous) {
    infrastructure = {
      comparedWith: null,
      stacks: [...input.synthesized.templates].map(([stack, template]) => ({
        stack,
        resources: Object.keys((template.Resources as Record<string, unknown> | undefined) ?? {}).length,
      })),
    };
    headline =
      'First release: compared against nothing (the release store holds no approved release yet), ' +
      `so every one of the ${plural(input.synthesized.templates.size, 'stack')} is new.`;
  } else {
    const stacks = diffStacks(previous.templates, input.synthesized.templates);
    infrastructure = { comparedWith: previous.manifest.id, stacks };
    permissions = stacks
      .flatMap((s) => s.permissions)
      .sort((a, b) => (a.change === b.change ? 0 : a.change === 'added' ? -1 : 1));
    const changed = stacks.filter((s) => s.status !== 'unchanged');
    if (changed.length === 0 && compliance.added.length === 0 && compliance.removed.length === 0) {
      headline = `No changes since release ${previous.manifest.id}.`;
    } else {
      const widened = permissions.filter((p) => p.change === 'added').length;
      headline =
        `Since release ${previous.manifest.id}: ${plural(widened, 'permission')} added or widened, ` +
        `${plural(permissions.length - widened, 'permission')} removed, ${plural(changed.length, 'stack')} changed, ` +
        `${plural(compliance.added.length, 'new acknowledgement')} and ${plural(compliance.removed.length, 'removed acknowledgement')}.`;
    }
  }
  const models = modelVersions(input.rollout);
  return {
    format: 'release-dossier/1',
    generatedAt: input.now.toISOString(),
    commit: input.commit,
    executionId: input.executionId,
    previous: previous
      ? {
          id: previous.manifest.id,
          commit: previous.manifest.commit,
          recordedAt: previous.manifest.recordedAt,
        }
      : null,
    headline,
    quality: qualitySection(
      input.evaluation,
      input.smoke,
      input.rollout && !isRolloutFailure(input.rollout) ? input.rollout.onlineQuality : null,
    ),
    permissions,
    infrastructure,
    compliance,
    smoke: input.smoke ?? null,
    rollout: input.rollout ? rolloutSection(input.rollout) : null,
    models,
    modelShapes: [...new Set([models.before, models.after])].flatMap(
      (version) => input.modelShapes?.filter((shape) => shape.version === version) ?? [],
    ),
  };
}

/** Whether the rollout section records a rollback or failure. */
export const isFailedRollout = (r: RolloutSection): r is RolloutFailure =>
  r.outcome === 'rolled-back' || r.outcome === 'failed';
