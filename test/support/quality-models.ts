/**
 * Model packages for the quality gates' tests: small linear classifiers (ONNX, built here) over a
 * 2-feature, 3-label dataset whose truth is known exactly, so each defect moves accuracy by a known
 * amount. Folders follow the model package contract (docs/CONTRACTS.md, "Model artifacts").
 */
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { packTarGz } from '../../services/model/archive';
import { buildModelPackage, writeModelPackage } from '../../services/model/package-builder';
import { floatTensor, floatValueInfo } from './onnx-graphs';

export const FIXTURE_LABELS = ['alpha', 'beta', 'gamma'] as const;
export const FIXTURE_FEATURES = ['x0', 'x1'] as const;
/** Class centres along the feature the classifier reads; boundaries at 1/3 and 2/3. */
const CENTRES = [1 / 6, 1 / 2, 5 / 6];
const SHARPNESS = 40;

/** One labelled row: x0 decides the label by thirds; x1 is a low-discrepancy sequence unrelated to it. */
export function fixtureRows(count: number): { features: number[]; label: string }[] {
  return Array.from({ length: count }, (_, i) => {
    const x0 = (i + 0.5) / count;
    const x1 = (i * 0.6180339887498949) % 1;
    return { features: [x0, x1], label: FIXTURE_LABELS[Math.min(2, Math.floor(x0 * 3))] };
  });
}

/** How a fixture classifier deviates from the right one. */
export interface ClassifierDefect {
  /** Predicts label k + shift for class k (a label-encoding bug). @default 0 */
  readonly labelShift?: number;
  /** Reads the features in this order (training/serving skew). @default [0, 1] */
  readonly featureOrder?: readonly number[];
  /** Moves the first class's centre by this much: 0.1 moves the first boundary by 0.05 (5 points). @default 0 */
  readonly firstCentreShift?: number;
}

/** Weights [2, 3] and bias [3] of a nearest-centre classifier on the feature read first. */
function linearClassifier(defect: ClassifierDefect): { weights: number[]; bias: number[] } {
  const centres = CENTRES.map((c, k) => (k === 0 ? c + (defect.firstCentreShift ?? 0) : c));
  const read = (defect.featureOrder ?? [0, 1])[0];
  const shift = defect.labelShift ?? 0;
  const weights = new Array<number>(2 * 3).fill(0);
  const bias = new Array<number>(3).fill(0);
  centres.forEach((c, k) => {
    const column = (k + shift) % 3;
    weights[read * 3 + column] = SHARPNESS * c;
    bias[column] = (-SHARPNESS * c * c) / 2;
  });
  return { weights, bias };
}

/** The label the fixture classifier with this defect predicts for a row (the ONNX graph's argmax). */
export function fixturePrediction(defect: ClassifierDefect, features: readonly number[]): string {
  const { weights, bias } = linearClassifier(defect);
  const logits = bias.map((b, k) => b + features[0] * weights[k] + features[1] * weights[3 + k]);
  return FIXTURE_LABELS[logits.indexOf(Math.max(...logits))];
}

/** `features` [N, 2] → MatMul, Add, Softmax → `probabilities` [N, 3]. */
export function classifierOnnx(defect: ClassifierDefect = {}): Buffer {
  const { weights, bias } = linearClassifier(defect);
  const proto = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'test/support/quality-models.ts',
    graph: {
      name: 'fixture_classifier',
      node: [
        { opType: 'MatMul', input: ['features', 'weights'], output: ['linear'], name: 'matmul' },
        { opType: 'Add', input: ['linear', 'bias'], output: ['logits'], name: 'add_bias' },
        {
          opType: 'Softmax',
          input: ['logits'],
          output: ['probabilities'],
          name: 'softmax',
          attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
        },
      ],
      initializer: [floatTensor('weights', [2, 3], weights), floatTensor('bias', [3], bias)],
      input: [floatValueInfo('features', ['N', 2])],
      output: [floatValueInfo('probabilities', ['N', 3])],
    },
  });
  return Buffer.from(onnx.ModelProto.encode(proto).finish());
}

function uniformStats(name: string) {
  return {
    name,
    mean: 0.5,
    std: 0.288675,
    min: 0,
    max: 1,
    binEdges: [0, 0.25, 0.5, 0.75, 1],
    binFractions: [0.25, 0.25, 0.25, 0.25],
  };
}

/** What to write into a fixture package. */
export interface FixturePackage {
  readonly version: string;
  readonly defect?: ClassifierDefect;
  /**
   * Packs a model with this defect into model.tar.gz (what the container serves) while model.onnx
   * stays the evaluated one: a container that does not reproduce what was evaluated. @default - the same model
   */
  readonly servedDefect?: ClassifierDefect;
  /** Rows of its evaluation.jsonl. @default fixtureRows(300) */
  readonly rows?: readonly { features: readonly number[]; label: string }[];
}

/**
 * Writes `<modelsDir>/<version>/` (model.onnx, metadata.json, model.tar.gz, evaluation.jsonl,
 * requests.json) and returns the folder.
 */
export async function writeFixturePackage(modelsDir: string, fixture: FixturePackage): Promise<string> {
  const dir = path.join(modelsDir, fixture.version);
  await mkdir(dir, { recursive: true });
  const rows = fixture.rows ?? fixtureRows(300);
  const defect = fixture.defect ?? {};
  // As a builder chooses them: rows the model itself is sure of, labelled with its own answer.
  const golden = CENTRES.map((c) => [c, 0.5]).map((features) => ({
    features,
    label: fixturePrediction(defect, features),
  }));
  const accuracy =
    rows.filter((row) => fixturePrediction(defect, row.features) === row.label).length / rows.length;
  const metadata = {
    version: fixture.version,
    task: 'classification',
    featureNames: FIXTURE_FEATURES,
    featureCount: 2,
    labels: FIXTURE_LABELS,
    outputs: { probabilities: 'probabilities' },
    featureStats: FIXTURE_FEATURES.map(uniformStats),
    golden,
    evaluation: { rows: rows.length, source: 'test/support/quality-models.ts', metrics: { accuracy } },
    training: { dataset: 'fixture', rows: rows.length, seed: 0, epochs: 1, accuracy: 1 },
  };
  const model = classifierOnnx(defect);
  const metadataBytes = Buffer.from(`${JSON.stringify(metadata, null, 2)}\n`);
  await Promise.all([
    writeFile(path.join(dir, 'model.onnx'), model),
    writeFile(path.join(dir, 'metadata.json'), metadataBytes),
    writeFile(
      path.join(dir, 'model.tar.gz'),
      packTarGz([
        { name: 'model.onnx', data: fixture.servedDefect ? classifierOnnx(fixture.servedDefect) : model },
        { name: 'metadata.json', data: metadataBytes },
      ]),
    ),
    writeFile(path.join(dir, 'evaluation.jsonl'), rows.map((row) => JSON.stringify(row)).join('\n') + '\n'),
    writeFile(
      path.join(dir, 'requests.json'),
      JSON.stringify({ version: fixture.version, source: 'fixture', requests: rows }),
    ),
  ]);
  return dir;
}

/**
 * A package made the way users make one, by `npm run model:add`'s builder, from a fixture classifier
 * and `rows` labelled rows; `labels` is the label order the user passes (a wrong order is the
 * label-encoding bug). The builder holds out its own evaluation split and measures it.
 */
export async function addWithBuilder(
  modelsDir: string,
  version: string,
  options: {
    readonly labels?: readonly string[];
    readonly defect?: ClassifierDefect;
    readonly rows?: number;
  } = {},
): Promise<string> {
  const dir = path.join(modelsDir, version);
  const modelPackage = await buildModelPackage({
    version,
    onnx: classifierOnnx(options.defect),
    data: {
      featureNames: FIXTURE_FEATURES,
      rows: [
        ...fixtureRows(options.rows ?? 600).map((row) => ({ features: row.features, target: row.label })),
        // Label noise, as real data has: one row per class labelled with the previous class.
        ...CENTRES.map((c, k) => ({ features: [c, 0.95], target: FIXTURE_LABELS[(k + 2) % 3] })),
      ],
    },
    dataSource: 'test/support/quality-models.ts',
    task: 'classification',
    labels: options.labels ?? FIXTURE_LABELS,
  });
  await writeModelPackage(modelPackage, dir);
  return dir;
}
