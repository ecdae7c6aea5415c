import { readFileSync } from 'node:fs';
import * as path from 'node:path';

/**
 * `config/model-versions.json`: which model version each variant of each stage serves. It is data,
 * not TypeScript, so `npm run converge` can rewrite it without touching code; `bin/config.ts` reads it.
 */
export const MODEL_VERSIONS_FILE = path.resolve(__dirname, '..', '..', 'config', 'model-versions.json');

/** The file's path as a user sees it in messages. */
export const MODEL_VERSIONS_DISPLAY = 'config/model-versions.json';

/** The stages the file has an entry for (the keys of `AppConfig` that are stages). */
export const STAGE_KEYS = ['dev', 'prod'] as const;
/** `dev` or `prod`. */
export type StageKey = (typeof STAGE_KEYS)[number];

/** A commit that deliberately serves an older baseline than the stage serves now. */
export interface IntendedRollback {
  /**
   * The version the commit goes back to: `baselineVersion` (serve an older model), or `candidateVersion`
   * (propose an older model than the stage serves to the canary rollout).
   */
  readonly toVersion: string;
  /** Why (shown in the guard report and the release dossier). */
  readonly reason: string;
}

/** One stage's model versions. */
export interface StageModelVersions {
  /** VariantA's model: the version the stage serves after its last decision. */
  readonly baselineVersion: string;
  /** VariantB's model: the proposal the canary rollout judges (equal to the baseline when none). */
  readonly candidateVersion: string;
  /** Present only in a commit that means to go back to an older baseline. */
  readonly rollback?: IntendedRollback;
}

/** The whole file. */
export type ModelVersionsFile = Readonly<Record<StageKey, StageModelVersions>>;

/** The file cannot be used; lists every problem, each naming its field. */
export class ModelVersionsError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid ${MODEL_VERSIONS_DISPLAY}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ModelVersionsError';
  }
}

/**
 * A canonical model version: `v<major>.<minor>.<patch>`, no leading zeros (`v1.3.00` would order equal to
 * `v1.3.0` under another name). The one pattern every reader of a version uses (config, registry, models/).
 */
export const MODEL_VERSION_PATTERN = /^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

/** Whether `name` is a canonical model version ({@link MODEL_VERSION_PATTERN}). */
export const isModelVersion = (name: string): boolean => MODEL_VERSION_PATTERN.test(name);
const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function parseStage(key: StageKey, value: unknown, problems: string[]): StageModelVersions | undefined {
  if (!isRecord(value)) {
    problems.push(`${key}: missing; set {"baselineVersion": "v1.0.0", "candidateVersion": "v1.1.0"}`);
    return undefined;
  }
  for (const field of Object.keys(value)) {
    if (!['baselineVersion', 'candidateVersion', 'rollback'].includes(field)) {
      problems.push(`${key}.${field}: unknown field (baselineVersion, candidateVersion, rollback)`);
    }
  }
  for (const field of ['baselineVersion', 'candidateVersion'] as const) {
    if (typeof value[field] !== 'string' || !isModelVersion(value[field])) {
      problems.push(
        `${key}.${field}: ${JSON.stringify(value[field])} is not a version such as "v1.0.0" (v<major>.<minor>.<patch>, no leading zeros)`,
      );
    }
  }
  const rollback = value.rollback;
  if (rollback !== undefined) {
    if (
      !isRecord(rollback) ||
      typeof rollback.reason !== 'string' ||
      rollback.reason.trim().length < 10 ||
      typeof rollback.toVersion !== 'string'
    ) {
      problems.push(
        `${key}.rollback: must be {"toVersion": "<baselineVersion>", "reason": "<why, at least 10 characters>"}`,
      );
    } else if (
      rollback.toVersion !== value.baselineVersion &&
      rollback.toVersion !== value.candidateVersion
    ) {
      problems.push(
        `${key}.rollback.toVersion: "${rollback.toVersion}" must equal ${key}.baselineVersion ("${String(value.baselineVersion)}") ` +
          `or, to propose an older candidate on purpose, ${key}.candidateVersion ("${String(value.candidateVersion)}")`,
      );
    }
  }
  return problems.length > 0 ? undefined : (value as unknown as StageModelVersions);
}

/** Parses and checks the file's text; throws {@link ModelVersionsError} naming each bad field. */
export function parseModelVersions(text: string): ModelVersionsFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ModelVersionsError([`not JSON: ${(error as Error).message}`]);
  }
  if (!isRecord(data)) throw new ModelVersionsError(['must be an object with "dev" and "prod"']);
  const problems: string[] = [];
  for (const key of Object.keys(data)) {
    if (!(STAGE_KEYS as readonly string[]).includes(key)) problems.push(`${key}: unknown stage (dev, prod)`);
  }
  for (const key of STAGE_KEYS) parseStage(key, data[key], problems);
  if (problems.length > 0) throw new ModelVersionsError(problems);
  return data as unknown as ModelVersionsFile;
}

/** Reads and checks the file. */
export function readModelVersions(file = MODEL_VERSIONS_FILE): ModelVersionsFile {
  return parseModelVersions(readFileSync(file, 'utf8'));
}

/** The file's text for `data`, formatted as prettier leaves it (2 spaces, one field a line). */
export function formatModelVersions(data: ModelVersionsFile): string {
  return `${JSON.stringify(data, null, 2)}\n`;
}

/** The versions one stage's endpoint serves, as `StageConfig.endpoint` takes them. */
export function endpointVersions(versions: StageModelVersions): {
  baselineVersion: string;
  candidateVersion: string;
} {
  return { baselineVersion: versions.baselineVersion, candidateVersion: versions.candidateVersion };
}

/**
 * Orders canonical `vMAJOR.MINOR.PATCH` versions: negative when `a` is older than `b`, 0 when equal; undefined
 * when either is not such a version (the guard then cannot tell which is older and says so).
 */
export function compareVersions(a: string, b: string): number | undefined {
  const parse = (v: string) => (isModelVersion(v) ? v.slice(1).split('.').map(Number) : undefined);
  const x = parse(a);
  const y = parse(b);
  if (!x || !y) return undefined;
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return 0;
}
