import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { packTarGz } from '../../../services/model/archive';
import type {
  ArtifactReader,
  ModelArtifact,
  ModelRegistry,
} from '../../../services/batch/adapters/model-registry';
import { loadActiveModel } from '../../../services/batch/model-loader';
import type { ScoringModel } from '../../../services/batch/scoring-model';
import { floatTensor, floatValueInfo } from '../../support/onnx-graphs';

/** Labels of the fixture classifier, in the order of its probability columns. */
export const FIXTURE_LABELS = ['low', 'mid', 'high'] as const;
/** Features per row of the fixture classifier. */
export const FIXTURE_FEATURES = 4;

/**
 * A 4-feature, 3-class softmax classifier as ONNX (`features` [N, 4] → `probabilities` [N, 3]): the
 * class follows the feature sum (see {@link fixtureLabel}). A term of 1e-30 × (first feature)^4, nothing
 * for ordinary rows, overflows float32 for a first feature near 2^53 (which the input checks accept):
 * the output is NaN, a row the model itself cannot score.
 */
function classifierOnnx(): Buffer {
  const weights = Array.from({ length: FIXTURE_FEATURES }, () => [-10, 0, 10]).flat();
  const proto = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'test/batch/support/model-fixture.ts',
    graph: {
      name: 'fixture_classifier',
      node: [
        { opType: 'MatMul', input: ['features', 'weights'], output: ['linear'], name: 'matmul' },
        { opType: 'Mul', input: ['features', 'features'], output: ['squares'], name: 'square' },
        { opType: 'Mul', input: ['squares', 'squares'], output: ['fourth'], name: 'fourth_power' },
        { opType: 'MatMul', input: ['fourth', 'tiny'], output: ['overflow'], name: 'overflow_term' },
        { opType: 'Add', input: ['linear', 'overflow'], output: ['summed'], name: 'add_term' },
        { opType: 'Add', input: ['summed', 'bias'], output: ['logits'], name: 'add_bias' },
        {
          opType: 'Softmax',
          input: ['logits'],
          output: ['probabilities'],
          name: 'softmax',
          attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
        },
      ],
      initializer: [
        floatTensor('weights', [FIXTURE_FEATURES, FIXTURE_LABELS.length], weights),
        floatTensor('bias', [FIXTURE_LABELS.length], [100, 0, -100]),
        floatTensor(
          'tiny',
          [FIXTURE_FEATURES, FIXTURE_LABELS.length],
          [0, 1e-30, 0, ...new Array(9).fill(0)],
        ),
      ],
      input: [floatValueInfo('features', ['N', FIXTURE_FEATURES])],
      output: [floatValueInfo('probabilities', ['N', FIXTURE_LABELS.length])],
    },
  });
  return Buffer.from(onnx.ModelProto.encode(proto).finish());
}

/** metadata.json of the fixture, valid under today's schema and the round's contract (task, outputs, evaluation). */
function metadata(version: string): Record<string, unknown> {
  const featureNames = Array.from({ length: FIXTURE_FEATURES }, (_, i) => `f${i}`);
  return {
    version,
    task: 'classification',
    featureNames,
    featureCount: FIXTURE_FEATURES,
    labels: FIXTURE_LABELS,
    outputs: { probabilities: 'probabilities' },
    featureStats: featureNames.map((name) => ({
      name,
      mean: 2,
      std: 1,
      min: 0,
      max: 4,
      binEdges: [0, 2, 4],
      binFractions: [0.5, 0.5],
    })),
    golden: [{ features: [0, 0, 0, 0], label: 'low' }],
    evaluation: { rows: 1, source: 'fixture', metrics: { accuracy: 1 } },
    training: { dataset: 'fixture', rows: 1, seed: 1, epochs: 1, accuracy: 1 },
  };
}

/** A model version's `model.tar.gz` and the registry record of it. */
export interface FixtureArchive {
  readonly archive: Buffer;
  readonly artifact: ModelArtifact;
}

/** The fixture classifier as `model.tar.gz` (model.onnx + metadata.json), with its SHA-256. */
export function fixtureArchive(
  version = 'v3.1.4',
  bucket = 'models',
  key = `${version}/model.tar.gz`,
): FixtureArchive {
  const archive = packTarGz([
    { name: 'model.onnx', data: classifierOnnx() },
    { name: 'metadata.json', data: Buffer.from(JSON.stringify(metadata(version))) },
  ]);
  return {
    archive,
    artifact: { version, bucket, key, sha256: createHash('sha256').update(archive).digest('hex') },
  };
}

/** The label the fixture predicts for a row whose features sum to `sum`. */
export const fixtureLabel = (sum: number): string => (sum > 10 ? 'high' : 'low');

/** A registry whose active version is the fixture archive, and a reader that serves its bytes. */
export function fixtureRegistry(fixture: FixtureArchive): {
  registry: ModelRegistry;
  reader: ArtifactReader;
} {
  return {
    registry: { activeArtifact: async () => fixture.artifact },
    reader: { read: async () => fixture.archive },
  };
}

/** The fixture classifier loaded the way the scorer loads it (registry, SHA-256 check, `loadModel`). */
export async function loadFixtureModel(
  version?: string,
): Promise<{ model: ScoringModel; close(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'batch-model-'));
  const { registry, reader } = fixtureRegistry(fixtureArchive(version));
  const { model } = await loadActiveModel(registry, reader, dir);
  return { model, close: () => rm(dir, { recursive: true, force: true }) };
}
