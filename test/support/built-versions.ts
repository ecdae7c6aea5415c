import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { modelArtifactDir } from '../../services/model/artifacts';
import { parseLabelledData } from '../../services/model/labelled-data';
import { buildModelPackage, writeModelPackage } from '../../services/model/package-builder';

/** Models made by real exporters (test/fixtures/models/make-fixtures.py) and their labelled data. */
const FIXTURES = path.join(__dirname, '..', 'fixtures', 'models');

/** One version to build: a fixture model and the CSV it was trained on. */
export interface VersionSpec {
  readonly version: string;
  /** File under test/fixtures/models, e.g. `regression.onnx`. */
  readonly onnx: string;
  /** CSV under test/fixtures/models, e.g. `regression.csv`. */
  readonly csv: string;
}

/** A temporary `models/` folder holding the built versions. */
export interface BuiltVersions {
  readonly root: string;
  remove(): Promise<void>;
}

/**
 * Builds version folders the way `npm run model:add` does (same builder, ONNX Runtime on the data) into
 * a fresh temporary root, so tests serve their own versions, never the shipped ones.
 */
export async function buildVersions(specs: readonly VersionSpec[]): Promise<BuiltVersions> {
  const root = await mkdtemp(path.join(tmpdir(), 'models-'));
  for (const spec of specs) {
    const data = parseLabelledData(await readFile(path.join(FIXTURES, spec.csv), 'utf8'), { file: spec.csv });
    const modelPackage = await buildModelPackage({
      version: spec.version,
      onnx: await readFile(path.join(FIXTURES, spec.onnx)),
      data,
      dataSource: spec.csv,
    });
    await writeModelPackage(modelPackage, modelArtifactDir(spec.version, root));
  }
  return { root, remove: () => rm(root, { recursive: true, force: true }) };
}
