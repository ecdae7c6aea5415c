/** Training-set statistics of one feature; the drift job compares recent inputs against these bins (PSI). */
export interface FeatureStats {
  readonly name: string;
  readonly mean: number;
  readonly std: number;
  readonly min: number;
  readonly max: number;
  /** Ascending bin edges, one more than `binFractions`. */
  readonly binEdges: readonly number[];
  /** Share of training rows per bin; sums to 1. */
  readonly binFractions: readonly number[];
}

/** A request whose label this model version predicts; the smoke test replays them. */
export interface GoldenRequest {
  readonly features: readonly number[];
  readonly label: string;
}

/** How the model was produced. */
export interface TrainingInfo {
  readonly dataset: string;
  readonly rows: number;
  readonly seed: number;
  readonly epochs: number;
  /** Accuracy on the held-out rows. */
  readonly accuracy: number;
}

/** `metadata.json` next to `model.onnx` (docs/CONTRACTS.md, "Model artifacts"). */
export interface ModelMetadata {
  readonly version: string;
  readonly featureNames: readonly string[];
  readonly featureCount: number;
  /** Class labels in the order of the model's `probabilities` output columns. */
  readonly labels: readonly string[];
  readonly featureStats: readonly FeatureStats[];
  readonly golden: readonly GoldenRequest[];
  readonly training: TrainingInfo;
}

/** Thrown when a `metadata.json` does not follow the contract; the message names the field. */
export class InvalidMetadataError extends Error {
  override readonly name = 'InvalidMetadataError';
}

type Json = Record<string, unknown>;

function fail(path: string, expected: string): never {
  throw new InvalidMetadataError(`metadata.json: ${path} must be ${expected}`);
}

function asObject(value: unknown, path: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(path, 'an object');
  return value as Json;
}

function asString(value: unknown, path: string): string {
  if (typeof value !== 'string' || value.length === 0) fail(path, 'a non-empty string');
  return value;
}

function asNumber(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(path, 'a finite number');
  return value;
}

function asInteger(value: unknown, path: string, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min)
    fail(path, `an integer >= ${min}`);
  return value;
}

function asArray(value: unknown, path: string, length?: number): unknown[] {
  if (!Array.isArray(value)) fail(path, 'an array');
  if (length !== undefined && value.length !== length) fail(path, `an array of ${length} items`);
  return value;
}

function asUniqueStrings(value: unknown, path: string, length?: number): string[] {
  const strings = asArray(value, path, length).map((item, i) => asString(item, `${path}[${i}]`));
  if (new Set(strings).size !== strings.length) fail(path, 'free of duplicates');
  return strings;
}

function asNumbers(value: unknown, path: string, length?: number): number[] {
  return asArray(value, path, length).map((item, i) => asNumber(item, `${path}[${i}]`));
}

function parseFeatureStats(value: unknown, path: string, name: string): FeatureStats {
  const stats = asObject(value, path);
  if (stats.name !== name) fail(`${path}.name`, `"${name}" (the featureNames entry at the same index)`);
  const binFractions = asNumbers(stats.binFractions, `${path}.binFractions`);
  if (binFractions.length === 0) fail(`${path}.binFractions`, 'a non-empty array');
  const binEdges = asNumbers(stats.binEdges, `${path}.binEdges`, binFractions.length + 1);
  if (binEdges.some((edge, i) => i > 0 && edge <= binEdges[i - 1]))
    fail(`${path}.binEdges`, 'strictly ascending');
  if (binFractions.some((f) => f < 0) || Math.abs(binFractions.reduce((a, b) => a + b, 0) - 1) > 1e-6) {
    fail(`${path}.binFractions`, 'non-negative and sum to 1');
  }
  return {
    name,
    mean: asNumber(stats.mean, `${path}.mean`),
    std: asNumber(stats.std, `${path}.std`),
    min: asNumber(stats.min, `${path}.min`),
    max: asNumber(stats.max, `${path}.max`),
    binEdges,
    binFractions,
  };
}

function parseGolden(
  value: unknown,
  path: string,
  featureCount: number,
  labels: readonly string[],
): GoldenRequest {
  const golden = asObject(value, path);
  const label = asString(golden.label, `${path}.label`);
  if (!labels.includes(label)) fail(`${path}.label`, `one of the labels (${labels.join(', ')})`);
  return { features: asNumbers(golden.features, `${path}.features`, featureCount), label };
}

function parseTraining(value: unknown): TrainingInfo {
  const training = asObject(value, 'training');
  const accuracy = asNumber(training.accuracy, 'training.accuracy');
  if (accuracy < 0 || accuracy > 1) fail('training.accuracy', 'between 0 and 1');
  return {
    ...training,
    dataset: asString(training.dataset, 'training.dataset'),
    rows: asInteger(training.rows, 'training.rows', 1),
    seed: asInteger(training.seed, 'training.seed', 0),
    epochs: asInteger(training.epochs, 'training.epochs', 1),
    accuracy,
  };
}

/**
 * Validates a parsed `metadata.json` against the contract.
 * @throws InvalidMetadataError naming the first field that is wrong.
 */
export function parseModelMetadata(value: unknown): ModelMetadata {
  const metadata = asObject(value, '(root)');
  const version = asString(metadata.version, 'version');
  const featureCount = asInteger(metadata.featureCount, 'featureCount', 1);
  const featureNames = asUniqueStrings(metadata.featureNames, 'featureNames', featureCount);
  const labels = asUniqueStrings(metadata.labels, 'labels');
  if (labels.length < 2) fail('labels', 'an array of at least 2 labels');
  return {
    version,
    featureNames,
    featureCount,
    labels,
    featureStats: asArray(metadata.featureStats, 'featureStats', featureCount).map((stats, i) =>
      parseFeatureStats(stats, `featureStats[${i}]`, featureNames[i]),
    ),
    golden: asArray(metadata.golden, 'golden').map((golden, i) =>
      parseGolden(golden, `golden[${i}]`, featureCount, labels),
    ),
    training: parseTraining(metadata.training),
  };
}
