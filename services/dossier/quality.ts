/**
 * The dossier's first model section: is the candidate as right as the baseline? The offline
 * evaluation the Build kept (`npm run evaluate --out`, cdk.out/quality/dev.json), the smoke test's
 * truth checks, and the rollout's online accuracy and predicted-class distribution per variant.
 * Every record is checked field by field when read (fields.ts).
 */
import type { DecisionQuality } from '../rollout/judge-handler';
import { Fields } from './fields';
import type { SmokeCheck, SmokeReport } from './junit';

/** Thrown when a quality record is not of the shape `npm run evaluate --json` writes; names the field. */
export class QualityRecordError extends Error {
  override readonly name = 'QualityRecordError';
}

/** The offline evaluation, as the table shows it. */
export interface OfflineQuality {
  readonly baselineVersion: string;
  readonly candidateVersion: string;
  readonly task: 'classification' | 'regression';
  readonly rows: number;
  readonly metric: 'accuracy' | 'mae';
  readonly baseline: number;
  readonly candidate: number;
  readonly difference: number;
  /** (1 − 2α) interval of the difference, null when the rows give none. */
  readonly interval: { readonly lower: number; readonly upper: number } | null;
  /** The worst difference still acceptable. */
  readonly threshold: number;
  readonly outcome: 'fail' | 'non-inferior' | 'inconclusive';
  readonly passed: boolean;
  readonly summary: string;
}

/** Online prediction quality during the rollout: the newest judge decision that recorded it. */
export type OnlineQuality = DecisionQuality;

/** The section; each part is null when its record was not given ("not recorded"). */
export interface QualitySection {
  readonly offline: OfflineQuality | null;
  /** The smoke test's truth checks (`truth-*`), null without a smoke report. */
  readonly smokeTruth: readonly SmokeCheck[] | null;
  readonly online: OnlineQuality | null;
}

const number = (f: Fields, field: string) => f.number(field);

/** Parses `npm run evaluate -- --json` output (an EvaluationReport) into what the dossier shows. */
export function parseEvaluationReport(json: string): OfflineQuality {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new QualityRecordError(`not JSON: ${(error as Error).message}`);
  }
  const r = Fields.of(value, '', QualityRecordError);
  const c = r.object('comparison');
  const interval = (value as { comparison?: { interval?: unknown } }).comparison?.interval;
  const i = interval === undefined ? null : c.object('interval');
  const passed = (value as { passed?: unknown }).passed;
  if (typeof passed !== 'boolean') throw new QualityRecordError('passed must be true or false');
  return {
    baselineVersion: r.string('baselineVersion'),
    candidateVersion: r.string('candidateVersion'),
    task: r.oneOf('task', ['classification', 'regression'] as const),
    rows: r.number('rows', { min: 1, integer: true }),
    metric: c.oneOf('metric', ['accuracy', 'mae'] as const),
    baseline: number(c, 'baseline'),
    candidate: number(c, 'candidate'),
    difference: number(c, 'difference'),
    interval: i ? { lower: number(i, 'lower'), upper: number(i, 'upper') } : null,
    threshold: number(c, 'threshold'),
    outcome: c.oneOf('outcome', ['fail', 'non-inferior', 'inconclusive'] as const),
    passed,
    summary: r.string('summary'),
  };
}

/** An array of shares (numbers from 0 to 1), or null. */
function shares(value: unknown, where: string): number[] | null {
  if (value === null || value === undefined) return null;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'number' && v >= 0 && v <= 1)) {
    throw new QualityRecordError(`${where} must be an array of shares from 0 to 1, or null`);
  }
  return value as number[];
}

/**
 * The newest decision's `quality` in a rollout file's decisions (the judge records it when it weighs
 * prediction quality), or null when none has it.
 */
export function onlineQualityOf(decisions: unknown): OnlineQuality | null {
  if (!Array.isArray(decisions)) return null;
  for (let i = decisions.length - 1; i >= 0; i--) {
    const raw = (decisions[i] as { quality?: unknown } | null)?.quality;
    if (raw === undefined || raw === null) continue;
    const q = Fields.of(raw, `decisions[${i}].quality`, QualityRecordError);
    const a = q.object('accuracy');
    const d = q.object('distribution');
    return {
      accuracy: {
        baseline: a.numberOrNull('baseline'),
        canary: a.numberOrNull('canary'),
        baselineLabelled: a.number('baselineLabelled', { min: 0, integer: true }),
        canaryLabelled: a.number('canaryLabelled', { min: 0, integer: true }),
      },
      distribution: {
        classes: d.strings('classes'),
        baseline: shares(
          (raw as { distribution: { baseline?: unknown } }).distribution.baseline,
          `decisions[${i}].quality.distribution.baseline`,
        ),
        canary: shares(
          (raw as { distribution: { canary?: unknown } }).distribution.canary,
          `decisions[${i}].quality.distribution.canary`,
        ),
      },
      tv: q.numberOrNull('tv'),
    };
  }
  return null;
}

/** Builds the section from what was given. */
export function qualitySection(
  offline: OfflineQuality | undefined,
  smoke: SmokeReport | undefined,
  online: OnlineQuality | null | undefined,
): QualitySection {
  return {
    offline: offline ?? null,
    smokeTruth: smoke ? smoke.checks.filter((check) => check.name.startsWith('truth-')) : null,
    online: online ?? null,
  };
}
