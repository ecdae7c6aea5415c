import type { ModelTask } from '../model/metadata';

export type { ModelTask };

/**
 * The input every model version a stage deploys takes (synth refuses variants that differ), as
 * validation needs it: a request is scored by whichever variant SageMaker picks. Parameter Store
 * holds it as `<prefix>/input-schema` (docs/CONTRACTS.md).
 */
export interface InputSchema {
  readonly task: ModelTask;
  readonly featureCount: number;
  /** The deployed versions that share it, baseline first; error messages name them. */
  readonly versions: readonly string[];
  /**
   * Every class the deployed classifiers can answer, baseline's order first (empty for regression):
   * the predict function counts each per answer for the rollout judge's distribution check.
   * @default - none: only the predicted class is counted
   */
  readonly labels?: readonly string[];
}

/** The fields of a version's metadata the schema comes from. */
export interface VersionShape {
  readonly version: string;
  readonly featureCount: number;
  readonly task: ModelTask;
  /** A classifier's labels. */
  readonly labels?: readonly string[];
}

/**
 * The schema the deployed versions share.
 * @throws Error naming both versions when they differ in task or feature count, or when none is given.
 */
export function inputSchemaOf(deployed: readonly VersionShape[]): InputSchema {
  const [first, ...rest] = deployed;
  if (!first) throw new Error('inputSchemaOf: no deployed version');
  const { task, featureCount } = first;
  for (const other of rest) {
    if (other.task !== task || other.featureCount !== featureCount) {
      throw new Error(
        `Model versions ${first.version} (${task}, ${featureCount} features) and ${other.version} ` +
          `(${other.task}, ${other.featureCount} features) cannot serve one endpoint: every variant of a ` +
          'stage must take the same input and have the same task',
      );
    }
  }
  return {
    task,
    featureCount,
    versions: [...new Set(deployed.map((d) => d.version))],
    labels: [...new Set(deployed.flatMap((d) => d.labels ?? []))],
  };
}

/**
 * Checks an `input-schema` document: `{task, featureCount, versions, labels}` (`labels` may be absent).
 * @throws Error naming the parameter and the field.
 */
export function parseInputSchema(name: string, document: unknown): InputSchema {
  const record = (typeof document === 'object' && document !== null ? document : {}) as Record<
    string,
    unknown
  >;
  const { task, featureCount, versions, labels = [] } = record;
  if (task !== 'classification' && task !== 'regression') {
    throw new Error(`${name}: task must be "classification" or "regression"`);
  }
  if (typeof featureCount !== 'number' || !Number.isInteger(featureCount) || featureCount < 1) {
    throw new Error(`${name}: featureCount must be a positive integer`);
  }
  if (!Array.isArray(versions) || !versions.every((v): v is string => typeof v === 'string')) {
    throw new Error(`${name}: versions must be an array of version names`);
  }
  if (!Array.isArray(labels) || !labels.every((l): l is string => typeof l === 'string')) {
    throw new Error(`${name}: labels must be an array of class labels`);
  }
  return { task, featureCount, versions, labels };
}
