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

/** What a model predicts: a class (with probabilities) or a number. */
export type ModelTask = 'classification' | 'regression';

/** A row the smoke test replays, with the class this version predicts for it. */
export interface ClassificationGolden {
  readonly features: readonly number[];
  readonly label: string;
}

/** A row the smoke test replays, with the value this version predicts for it. */
export interface RegressionGolden {
  readonly features: readonly number[];
  readonly value: number;
}

/** A golden row of either task; discriminate with `'value' in golden`. */
export type GoldenRequest = ClassificationGolden | RegressionGolden;

/** Graph outputs a classifier is read from: class probabilities `[N, K]`, and a label tensor if it has one. */
export interface ClassificationOutputs {
  readonly probabilities: string;
  readonly label?: string;
}

/** The graph output a regressor is read from: `[N]` or `[N, 1]`. */
export interface RegressionOutputs {
  readonly value: string;
}

/** Quality measured by ONNX Runtime on `evaluation.jsonl` when the version was added. */
export interface EvaluationMetrics {
  readonly accuracy?: number;
  readonly logLoss?: number;
  readonly perClassRecall?: Readonly<Record<string, number>>;
  readonly mae?: number;
  readonly rmse?: number;
}

/** How well the version did on its labelled evaluation split, and where that split came from. */
export interface Evaluation {
  readonly rows: number;
  readonly source: string;
  readonly metrics: EvaluationMetrics;
}

interface CommonMetadata {
  readonly version: string;
  readonly featureNames: readonly string[];
  readonly featureCount: number;
  readonly featureStats: readonly FeatureStats[];
  /** Absent only in folders written before `model:add` measured it. */
  readonly evaluation?: Evaluation;
  /** Free-form notes on how the model was made; nothing reads its fields. */
  readonly training?: Readonly<Record<string, unknown>>;
}

/** `metadata.json` of a classifier. */
export interface ClassificationMetadata extends CommonMetadata {
  readonly task: 'classification';
  /** Class labels in the order of the probability columns. */
  readonly labels: readonly string[];
  readonly outputs: ClassificationOutputs;
  readonly golden: readonly ClassificationGolden[];
}

/** `metadata.json` of a regressor. */
export interface RegressionMetadata extends CommonMetadata {
  readonly task: 'regression';
  readonly outputs: RegressionOutputs;
  readonly golden: readonly RegressionGolden[];
  /** Ascending quantile edges of the evaluation predictions: bins for predicted-value distributions. */
  readonly regressionBins: readonly number[];
}

/** `metadata.json` next to `model.onnx` (docs/CONTRACTS.md, "Model artifacts"); discriminate on `task`. */
export type ModelMetadata = ClassificationMetadata | RegressionMetadata;

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

function parseClassificationGolden(
  value: unknown,
  path: string,
  featureCount: number,
  labels: readonly string[],
): ClassificationGolden {
  const golden = asObject(value, path);
  const label = asString(golden.label, `${path}.label`);
  if (!labels.includes(label)) fail(`${path}.label`, `one of the labels (${labels.join(', ')})`);
  return { features: asNumbers(golden.features, `${path}.features`, featureCount), label };
}

function parseRegressionGolden(value: unknown, path: string, featureCount: number): RegressionGolden {
  const golden = asObject(value, path);
  return {
    features: asNumbers(golden.features, `${path}.features`, featureCount),
    value: asNumber(golden.value, `${path}.value`),
  };
}

function asShare(value: unknown, path: string): number {
  const share = asNumber(value, path);
  if (share < 0 || share > 1) fail(path, 'between 0 and 1');
  return share;
}

function asNonNegative(value: unknown, path: string): number {
  const number = asNumber(value, path);
  if (number < 0) fail(path, '>= 0');
  return number;
}

function parseMetrics(value: unknown, labels: readonly string[] | undefined): EvaluationMetrics {
  const metrics = asObject(value, 'evaluation.metrics');
  const path = (key: string) => `evaluation.metrics.${key}`;
  const parsed: Record<string, unknown> = {};
  if (metrics.accuracy !== undefined) parsed.accuracy = asShare(metrics.accuracy, path('accuracy'));
  for (const key of ['logLoss', 'mae', 'rmse'] as const) {
    if (metrics[key] !== undefined) parsed[key] = asNonNegative(metrics[key], path(key));
  }
  if (metrics.perClassRecall !== undefined) {
    const recall = asObject(metrics.perClassRecall, path('perClassRecall'));
    parsed.perClassRecall = Object.fromEntries(
      Object.entries(recall).map(([label, r]) => {
        if (!labels?.includes(label)) fail(path(`perClassRecall.${label}`), 'keyed by one of the labels');
        return [label, asShare(r, path(`perClassRecall.${label}`))];
      }),
    );
  }
  return parsed as EvaluationMetrics;
}

function parseEvaluation(value: unknown, labels: readonly string[] | undefined): Evaluation {
  const evaluation = asObject(value, 'evaluation');
  return {
    rows: asInteger(evaluation.rows, 'evaluation.rows', 1),
    source: asString(evaluation.source, 'evaluation.source'),
    metrics: parseMetrics(evaluation.metrics, labels),
  };
}

function parseTask(value: unknown): ModelTask {
  if (value === undefined) return 'classification';
  if (value !== 'classification' && value !== 'regression') fail('task', '"classification" or "regression"');
  return value;
}

function parseClassificationOutputs(value: unknown): ClassificationOutputs {
  // Folders written before outputs were recorded read the graph output named "probabilities".
  if (value === undefined) return { probabilities: 'probabilities' };
  const outputs = asObject(value, 'outputs');
  const probabilities = asString(outputs.probabilities, 'outputs.probabilities');
  if (outputs.label === undefined) return { probabilities };
  const label = asString(outputs.label, 'outputs.label');
  if (label === probabilities) fail('outputs.label', 'another output than outputs.probabilities');
  return { probabilities, label };
}

/**
 * Validates a parsed `metadata.json` against the contract.
 * @throws InvalidMetadataError naming the first field that is wrong.
 */
export function parseModelMetadata(value: unknown): ModelMetadata {
  const metadata = asObject(value, '(root)');
  const version = asString(metadata.version, 'version');
  const task = parseTask(metadata.task);
  const featureCount = asInteger(metadata.featureCount, 'featureCount', 1);
  const featureNames = asUniqueStrings(metadata.featureNames, 'featureNames', featureCount);
  const featureStats = asArray(metadata.featureStats, 'featureStats', featureCount).map((stats, i) =>
    parseFeatureStats(stats, `featureStats[${i}]`, featureNames[i]),
  );
  const training =
    metadata.training === undefined ? {} : { training: asObject(metadata.training, 'training') };
  if (task === 'regression') {
    if (metadata.labels !== undefined) fail('labels', 'absent for a regression model');
    const outputs = asObject(metadata.outputs, 'outputs');
    const regressionBins = asNumbers(metadata.regressionBins, 'regressionBins');
    if (regressionBins.length < 2) fail('regressionBins', 'an array of at least 2 edges');
    if (regressionBins.some((edge, i) => i > 0 && edge <= regressionBins[i - 1]))
      fail('regressionBins', 'strictly ascending');
    return {
      version,
      task,
      featureNames,
      featureCount,
      outputs: { value: asString(outputs.value, 'outputs.value') },
      featureStats,
      golden: asArray(metadata.golden, 'golden').map((golden, i) =>
        parseRegressionGolden(golden, `golden[${i}]`, featureCount),
      ),
      regressionBins,
      ...(metadata.evaluation === undefined
        ? {}
        : { evaluation: parseEvaluation(metadata.evaluation, undefined) }),
      ...training,
    };
  }
  const labels = asUniqueStrings(metadata.labels, 'labels');
  if (labels.length < 2) fail('labels', 'an array of at least 2 labels');
  return {
    version,
    task,
    featureNames,
    featureCount,
    labels,
    outputs: parseClassificationOutputs(metadata.outputs),
    featureStats,
    golden: asArray(metadata.golden, 'golden').map((golden, i) =>
      parseClassificationGolden(golden, `golden[${i}]`, featureCount, labels),
    ),
    ...(metadata.evaluation === undefined
      ? {}
      : { evaluation: parseEvaluation(metadata.evaluation, labels) }),
    ...training,
  };
}
