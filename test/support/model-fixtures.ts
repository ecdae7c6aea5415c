import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseLabelledData } from '../../services/model/labelled-data';
import {
  buildModelPackage,
  writeModelPackage,
  type ModelPackage,
} from '../../services/model/package-builder';

/** The exported models and labelled data `test/fixtures/models/make-fixtures.py` writes. */
export const FIXTURE_EXPORTS_DIR = path.resolve(__dirname, '..', 'fixtures', 'models');

/**
 * Version folders made from those exports by `model:add`'s own builder: tests deploy and serve these,
 * never the demo versions or the stages' shipped version choices.
 * Rewrite with `npx tsx test/support/model-fixtures.ts` (test/model/fixture-versions.test.ts checks them).
 */
export const FIXTURE_MODELS_DIR = path.join(FIXTURE_EXPORTS_DIR, 'versions');

/** What each fixture version is made from. */
export const FIXTURE_VERSIONS = {
  /** torch.onnx.export MLP, softmax probabilities, 4 features, labels alpha/beta/gamma. */
  'v2.0.0': { onnx: 'mlp-classifier.onnx', data: 'mlp-classifier.csv' },
  /** The same schema with an int64 label tensor beside the probabilities. */
  'v2.1.0': { onnx: 'label-and-probabilities.onnx', data: 'mlp-classifier.csv' },
  /** Binary credit-default classifier, 8 features. */
  'v3.0.0': { onnx: 'credit-default-a.onnx', data: 'credit-default.csv' },
  /** A second credit-default model with the same schema. */
  'v3.1.0': { onnx: 'credit-default-b.onnx', data: 'credit-default.csv' },
  /** Regressor, 6 features, value [N, 1]. */
  'v4.0.0': { onnx: 'regression.onnx', data: 'regression.csv' },
  /** The skl2onnx LinearClassifier layout: string label tensor + probabilities, 4 features. */
  'v5.0.0': { onnx: 'sklearn-linear-classifier.onnx', data: 'mlp-classifier.csv' },
} as const;

/** A fixture version's name. */
export type FixtureVersion = keyof typeof FIXTURE_VERSIONS;

/** Two classifier versions of one 4-feature schema: a stage's baseline and candidate in tests. */
export const FIXTURE_BASELINE: FixtureVersion = 'v2.0.0';
export const FIXTURE_CANDIDATE: FixtureVersion = 'v2.1.0';

/** What `npm start` serves in tests: the fixture baseline and candidate, from the fixture folder. */
export const FIXTURE_LOCAL_SERVICE = {
  variants: [
    { name: 'VariantA', modelVersion: FIXTURE_BASELINE, weight: 100 },
    { name: 'VariantB', modelVersion: FIXTURE_CANDIDATE, weight: 0 },
  ],
  modelsRoot: FIXTURE_MODELS_DIR,
} as const;

/** A row the fixture baseline and candidate score (their first golden row's features). */
export const FIXTURE_ROW: readonly number[] = [-0.1134, -0.0652, 0.0979, -0.027];

/** Builds one fixture version in memory, exactly as `npm run model:add` would. */
export function buildFixtureVersion(version: FixtureVersion): Promise<ModelPackage> {
  const { onnx, data } = FIXTURE_VERSIONS[version];
  return buildModelPackage({
    version,
    onnx: readFileSync(path.join(FIXTURE_EXPORTS_DIR, onnx)),
    data: parseLabelledData(readFileSync(path.join(FIXTURE_EXPORTS_DIR, data), 'utf8'), { file: data }),
    dataSource: data,
  });
}

async function writeAll(): Promise<void> {
  for (const version of Object.keys(FIXTURE_VERSIONS) as FixtureVersion[]) {
    await writeModelPackage(await buildFixtureVersion(version), path.join(FIXTURE_MODELS_DIR, version));
    process.stdout.write(`wrote ${path.relative(process.cwd(), path.join(FIXTURE_MODELS_DIR, version))}\n`);
  }
}

if (require.main === module) {
  writeAll().catch((error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exitCode = 1;
  });
}
