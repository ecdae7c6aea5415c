import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { packTarGz } from './archive';
import { isModelVersion } from './artifacts';
import { classificationMetrics, regressionMetrics } from './evaluation-metrics';
import { ModelRefusedError, runGraph } from './graph';
import type { LabelledData } from './labelled-data';
import {
  ClassificationGolden,
  FeatureStats,
  ModelMetadata,
  ModelTask,
  parseModelMetadata,
  RegressionGolden,
} from './metadata';
import { loadModel, toPredictions, toValues, type ClassPrediction, type ValuePrediction } from './model';
import { selectOutputs, type ClassifierReading, type RegressorReading } from './output-selection';

/** What becomes `models/<version>/`. */
export interface ModelPackageInput {
  readonly version: string;
  /** The exported `model.onnx`. */
  readonly onnx: Buffer;
  readonly data: LabelledData;
  /** Where the data came from, for people (a file name, not a path: the output must not depend on the machine). */
  readonly dataSource: string;
  /** @default guessed from the outputs */
  readonly task?: ModelTask;
  /** Class labels in probability-column order. @default from the label tensor, else the data's sorted labels */
  readonly labels?: readonly string[];
  /** Share of rows held out for evaluation. @default 0.2 */
  readonly evalShare?: number;
  /** Free-form notes on how the model was made. */
  readonly training?: Readonly<Record<string, unknown>>;
}

/** The files of one version folder, and its metadata. */
export interface ModelPackage {
  readonly metadata: ModelMetadata;
  /** File name → bytes, in the order they are written; `SHA256SUMS` last. */
  readonly files: ReadonlyMap<string, Buffer>;
}

/** Files every version folder holds. */
export const EVALUATION_FILE = 'evaluation.jsonl';
export const DEFAULT_EVAL_SHARE = 0.2;
const BIN_COUNT = 10;
const GOLDEN_PER_LABEL = 2;
const REGRESSION_GOLDEN = 6;
/** Share of rows where a label tensor may disagree with the most probable column (ties). */
const LABEL_DISAGREEMENT_LIMIT = 0.005;

const round = (value: number, digits = 6) => Number(value.toFixed(digits));
const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const jsonBytes = (value: unknown) => Buffer.from(JSON.stringify(value, null, 2) + '\n');

/** Row indices ordered by a hash of the index: a deterministic shuffle that needs no seed. */
function hashOrder(indices: readonly number[]): number[] {
  return [...indices].sort((a, b) => sha256(`row:${a}`).localeCompare(sha256(`row:${b}`)));
}

/**
 * The evaluation split: `share` of the rows of each label (classification, so both sides keep the class
 * balance) or of all rows (regression), chosen by a hash of the row index, so the same data always splits
 * the same way. `npm run models` trains the Iris demo on the reference side.
 */
export function evaluationSplit(
  targets: readonly (string | number)[],
  share: number,
  stratified: boolean,
): { reference: number[]; evaluation: number[] } {
  const groups = new Map<string, number[]>();
  targets.forEach((target, i) => {
    const key = stratified ? String(target) : '';
    groups.set(key, [...(groups.get(key) ?? []), i]);
  });
  const evaluation = [...groups.values()].flatMap((rows) =>
    hashOrder(rows).slice(0, Math.max(1, Math.round(rows.length * share))),
  );
  const held = new Set(evaluation);
  return {
    reference: targets.map((_, i) => i).filter((i) => !held.has(i)),
    evaluation: evaluation.sort((a, b) => a - b),
  };
}

/** Mean, std, range and equal-width histogram of each feature: the drift job's reference (PSI). */
export function featureStatistics(
  rows: readonly (readonly number[])[],
  names: readonly string[],
  bins = BIN_COUNT,
): FeatureStats[] {
  return names.map((name, j) => {
    const column = rows.map((row) => row[j]);
    const mean = column.reduce((a, b) => a + b, 0) / column.length;
    const std = Math.sqrt(column.reduce((sum, v) => sum + (v - mean) ** 2, 0) / column.length);
    const min = Math.min(...column);
    const max = Math.max(...column);
    // A constant column still needs ascending edges.
    const width = max > min ? max - min : 1;
    const binEdges = Array.from({ length: bins + 1 }, (_, b) => round(min + (width * b) / bins));
    const counts = new Array<number>(bins).fill(0);
    for (const v of column) counts[binEdges.slice(1, -1).filter((edge) => v >= edge).length]++;
    return {
      name,
      mean: round(mean),
      std: round(std),
      min,
      max,
      binEdges,
      binFractions: counts.map((c) => c / column.length),
    };
  });
}

function numericAware(a: string, b: string): number {
  const [x, y] = [Number(a), Number(b)];
  return Number.isFinite(x) && Number.isFinite(y) ? x - y : a.localeCompare(b);
}

function resolveLabels(reading: ClassifierReading, truths: readonly string[], given?: readonly string[]) {
  const k = reading.classCount;
  const argmax = toPredictions(
    reading.probabilities,
    Array.from({ length: k }, (_, i) => String(i)),
  ).map((p) => Number(p.label));
  // The label tensor names each column: the value it gives where that column wins. Values 0..K-1 that are
  // not the data's labels are column indices (a torch argmax), not names.
  const byColumn = Array.from({ length: k }, (_, c) => reading.graphLabels?.[argmax.indexOf(c)]);
  const named = byColumn.every((label) => label !== undefined) ? (byColumn as string[]) : undefined;
  const indices = named?.every((label, c) => label === String(c)) && !truths.every((t) => named.includes(t));
  let labels = given ?? (indices ? undefined : named);
  labels ??= [...new Set(truths)].sort(numericAware);
  if (labels.length !== k || new Set(labels).size !== k) {
    throw new ModelRefusedError(
      `The probabilities output "${reading.outputs.probabilities}" has ${k} columns, but the labels are ` +
        `${labels.length} (${labels.join(', ')}).`,
      `pass --labels with the ${k} class labels in the order of the probability columns.`,
    );
  }
  const unknown = truths.find((truth) => !labels.includes(truth));
  if (unknown !== undefined) {
    throw new ModelRefusedError(
      `The data has label "${unknown}", which is not one of the model's labels (${labels.join(', ')}).`,
      'pass --labels naming every class in probability-column order, or fix the label column.',
    );
  }
  if (reading.graphLabels) {
    const disagree = argmax.filter(
      (c, r) => reading.graphLabels![r] !== (indices ? String(c) : labels[c]),
    ).length;
    if (disagree > LABEL_DISAGREEMENT_LIMIT * argmax.length) {
      throw new ModelRefusedError(
        `The label output "${reading.outputs.label}" disagrees with the most probable column of ` +
          `"${reading.outputs.probabilities}" on ${disagree} of ${argmax.length} rows (labels ${labels.join(', ')}).`,
        'pass --labels in probability-column order; the server answers the most probable class.',
      );
    }
  }
  return labels;
}

interface Scored<P> {
  readonly labels?: readonly string[];
  readonly predictions: readonly P[];
}

function classificationGolden(
  data: LabelledData,
  truths: readonly string[],
  { labels, predictions }: Required<Scored<ClassPrediction>>,
): ClassificationGolden[] {
  return labels.flatMap((label, k) =>
    predictions
      .map((p, i) => ({ i, p }))
      .filter(({ i, p }) => truths[i] === label && p.label === label)
      .sort((a, b) => b.p.probabilities[k] - a.p.probabilities[k] || a.i - b.i)
      .slice(0, GOLDEN_PER_LABEL)
      .sort((a, b) => a.i - b.i)
      .map(({ i }) => ({ features: data.rows[i].features, label })),
  );
}

/** Reference rows at evenly spaced quantiles of the predictions, with the value this version predicts. */
function regressionGolden(
  data: LabelledData,
  rows: readonly number[],
  predictions: readonly ValuePrediction[],
): RegressionGolden[] {
  const sorted = [...rows].sort((a, b) => predictions[a].value - predictions[b].value || a - b);
  const picks = new Set(
    Array.from({ length: Math.min(REGRESSION_GOLDEN, sorted.length) }, (_, q) =>
      Math.round((q * (sorted.length - 1)) / Math.max(1, REGRESSION_GOLDEN - 1)),
    ).map((position) => sorted[position]),
  );
  return [...picks]
    .sort((a, b) => a - b)
    .map((i) => ({ features: data.rows[i].features, value: predictions[i].value }));
}

/** Decile edges of the evaluation predictions, duplicates dropped. */
function quantileEdges(values: readonly number[]): number[] {
  const sorted = [...values].sort((a, b) => a - b);
  const edges = Array.from({ length: BIN_COUNT + 1 }, (_, q) =>
    round(sorted[Math.round((q * (sorted.length - 1)) / BIN_COUNT)]),
  );
  return edges.filter((edge, i) => i === 0 || edge > edges[i - 1]);
}

function checkInput(input: ModelPackageInput, share: number): void {
  if (!isModelVersion(input.version)) {
    throw new ModelRefusedError(
      `"${input.version}" is not a version name.`,
      'use v<major>.<minor>.<patch>, e.g. v2.0.0.',
    );
  }
  if (!(share > 0 && share < 1)) {
    throw new ModelRefusedError(
      `--eval-share ${share} is not a share.`,
      'use a number between 0 and 1, e.g. 0.2.',
    );
  }
}

function refuseTargets(task: ModelTask, first: string | number): never {
  throw new ModelRefusedError(
    task === 'regression'
      ? `The model's outputs fit regression, but the data's target "${first}" is not a number.`
      : `The data's targets are numbers, but the model's outputs fit classification.`,
    "pass --task to say which the model is, and give the data that task's label column.",
  );
}

/**
 * Turns an exported model and its labelled data into a version folder's files: runs the model on every row
 * with ONNX Runtime, picks the outputs, labels and task, measures it on the evaluation split, picks golden
 * rows and checks that the server's own loader answers them. Deterministic: the same input gives the same bytes.
 * @throws ModelRefusedError naming what cannot be served and how to fix it.
 */
export async function buildModelPackage(input: ModelPackageInput): Promise<ModelPackage> {
  const share = input.evalShare ?? DEFAULT_EVAL_SHARE;
  checkInput(input, share);
  const { data } = input;
  const features = data.rows.map((row) => row.features);
  const graph = await runGraph(input.onnx, data.featureNames, features);
  const reading = selectOutputs(graph.outputs, input.task);
  const targets = data.rows.map((row) => row.target);
  const split = evaluationSplit(targets, share, reading.task === 'classification');
  const common = {
    version: input.version,
    task: reading.task,
    featureNames: data.featureNames,
    featureCount: data.featureNames.length,
  };
  const evaluationSource =
    `${input.dataSource}: ${split.evaluation.length} of ${data.rows.length} rows held out ` +
    `(share ${share}, chosen by a hash of the row number)`;
  const featureStats = featureStatistics(
    split.reference.map((i) => features[i]),
    data.featureNames,
  );
  const evalRows = split.evaluation;
  let metadataValue: Record<string, unknown>;
  let evaluationLines: Record<string, unknown>[];
  if (reading.task === 'classification') {
    const truths = targets.map(String);
    const labels = resolveLabels(reading, truths, input.labels);
    const predictions = toPredictions(reading.probabilities, labels);
    evaluationLines = evalRows.map((i) => ({ features: features[i], label: truths[i] }));
    metadataValue = {
      ...common,
      labels,
      outputs: reading.outputs,
      featureStats,
      golden: classificationGolden(data, truths, { labels, predictions }),
      evaluation: {
        rows: evalRows.length,
        source: evaluationSource,
        metrics: classificationMetrics(
          evalRows.map((i) => predictions[i]),
          evalRows.map((i) => truths[i]),
          labels,
        ),
      },
    };
  } else {
    const truths = targets.map((target) =>
      typeof target === 'number' ? target : refuseTargets('regression', target),
    );
    metadataValue = regressionMetadata(reading, data, split, truths, evaluationSource, common, featureStats);
    evaluationLines = evalRows.map((i) => ({ features: features[i], value: truths[i] }));
  }
  if ((metadataValue.golden as unknown[]).length === 0) {
    throw new ModelRefusedError(
      'The model answers no row of the data right, so there is no golden row for the smoke test.',
      "check that the data columns are in the model's input order and the labels in probability-column order (--labels).",
    );
  }
  if (input.training) metadataValue.training = input.training;
  const metadata = parseModelMetadata(metadataValue);
  return { metadata, files: await packageFiles(input, metadata, evaluationLines) };
}

function regressionMetadata(
  reading: RegressorReading,
  data: LabelledData,
  split: { reference: number[]; evaluation: number[] },
  truths: readonly number[],
  evaluationSource: string,
  common: Record<string, unknown>,
  featureStats: FeatureStats[],
): Record<string, unknown> {
  const predictions = toValues(reading.values);
  const evalRows = split.evaluation;
  const regressionBins = quantileEdges(evalRows.map((i) => predictions[i].value));
  if (regressionBins.length < 2) {
    throw new ModelRefusedError(
      'The model predicts the same value for every evaluation row.',
      'check the export (the input order and scaling) and that the model was trained.',
    );
  }
  return {
    ...common,
    outputs: reading.outputs,
    featureStats,
    golden: regressionGolden(data, split.reference.length > 0 ? split.reference : evalRows, predictions),
    evaluation: {
      rows: evalRows.length,
      source: evaluationSource,
      metrics: regressionMetrics(
        evalRows.map((i) => predictions[i]),
        evalRows.map((i) => truths[i]),
      ),
    },
    regressionBins,
  };
}

async function packageFiles(
  input: ModelPackageInput,
  metadata: ModelMetadata,
  evaluationLines: readonly Record<string, unknown>[],
): Promise<Map<string, Buffer>> {
  const metadataBytes = jsonBytes(metadata);
  const files = new Map<string, Buffer>([
    ['model.onnx', input.onnx],
    ['metadata.json', metadataBytes],
    [
      'model.tar.gz',
      packTarGz([
        { name: 'model.onnx', data: input.onnx },
        { name: 'metadata.json', data: metadataBytes },
      ]),
    ],
    [EVALUATION_FILE, Buffer.from(evaluationLines.map((line) => JSON.stringify(line) + '\n').join(''))],
    [
      // The rollout traffic source replays the held-out rows, with their true answers.
      'requests.json',
      jsonBytes({
        version: metadata.version,
        source: metadata.evaluation!.source,
        requests: evaluationLines,
      }),
    ],
  ]);
  await verifyWithServerLoader(files, metadata);
  const sums = [...files].map(([name, bytes]) => `${sha256(bytes)}  ${name}\n`).join('');
  return new Map([...files, ['SHA256SUMS', Buffer.from(sums)]]);
}

/** Loads the package with the model server's own loader and replays the golden rows. */
async function verifyWithServerLoader(
  files: ReadonlyMap<string, Buffer>,
  metadata: ModelMetadata,
): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'model-package-'));
  try {
    await writeFile(path.join(dir, 'model.onnx'), files.get('model.onnx')!);
    await writeFile(path.join(dir, 'metadata.json'), files.get('metadata.json')!);
    const model = await loadModel(dir);
    try {
      const answers = await model.predict(metadata.golden.map((golden) => golden.features));
      metadata.golden.forEach((golden, r) => {
        const answer = answers[r];
        const expected = 'value' in golden ? golden.value : golden.label;
        const got = 'value' in answer ? answer.value : answer.label;
        if (got !== expected)
          throw new Error(`the server's loader answers ${got} for golden row ${r}, not ${expected}`);
      });
    } finally {
      await model.release();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Writes a package's files into `dir` (created if missing). */
export async function writeModelPackage(modelPackage: ModelPackage, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, bytes] of modelPackage.files) await writeFile(path.join(dir, name), bytes);
}
