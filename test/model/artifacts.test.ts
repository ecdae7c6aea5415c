import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { buildIrisVersion, trainingConfigs } from '../../scripts/models';
import {
  listModelVersions,
  loadModelMetadata,
  modelArtifactDir,
  modelsRoot,
  UnknownModelVersionError,
  versionFolderProblems,
} from '../../services/model/artifacts';
import {
  buildFixtureVersion,
  FIXTURE_MODELS_DIR,
  FIXTURE_VERSIONS,
  type FixtureVersion,
} from '../support/model-fixtures';

// Whatever versions a user keeps under models/ (the Iris demo or their own): each must be deployable.
it.each(listModelVersions().map((v) => [v]))(
  'models/%s is consistent (SHA256SUMS, archive, metadata)',
  (version) => {
    expect(versionFolderProblems(version)).toEqual([]);
  },
);

it('lists version folders in version order and ignores other names', () => {
  expect(listModelVersions(FIXTURE_MODELS_DIR)).toEqual(Object.keys(FIXTURE_VERSIONS).sort());
  expect(listModelVersions(path.join(FIXTURE_MODELS_DIR, 'v2.0.0'))).toEqual([]);
});

it('names npm run model:add when a version has no folder', () => {
  expect(() => loadModelMetadata('v0.0.9', FIXTURE_MODELS_DIR)).toThrow(UnknownModelVersionError);
  expect(() => loadModelMetadata('v0.0.9', FIXTURE_MODELS_DIR)).toThrow(
    /v0\.0\.9\/ with a metadata\.json; add it with npm run model:add -- --onnx MODEL\.onnx --data DATA\.csv --version v0\.0\.9 \(versions there now: v2\.0\.0, v2\.1\.0/,
  );
});

it.each(Object.keys(FIXTURE_VERSIONS).map((v) => [v as FixtureVersion]))(
  'the fixture folder %s is byte for byte what the builder makes (rewrite: npx tsx test/support/model-fixtures.ts)',
  async (version) => {
    const { files } = await buildFixtureVersion(version);
    for (const [name, bytes] of files) {
      const committed = readFileSync(path.join(modelArtifactDir(version, FIXTURE_MODELS_DIR), name));
      expect({ file: `${version}/${name}`, same: bytes.equals(committed) }).toEqual({
        file: `${version}/${name}`,
        same: true,
      });
    }
  },
);

describe('the Iris demo (npm run models)', () => {
  it('trains on the rows the builder does not hold out, and reproduces byte for byte', async () => {
    const config = Object.values(trainingConfigs)[0];
    const [first, second] = await Promise.all([buildIrisVersion(config), buildIrisVersion(config)]);
    expect(first.files.get('SHA256SUMS')!.equals(second.files.get('SHA256SUMS')!)).toBe(true);
    const { metadata } = first;
    expect(metadata.training).toMatchObject({ trainRows: 120 });
    expect(metadata.evaluation).toMatchObject({ rows: 30, metrics: { accuracy: expect.any(Number) } });
    expect(metadata.evaluation!.metrics.accuracy).toBeGreaterThanOrEqual(0.9);
    expect(modelsRoot).toBe(path.resolve(__dirname, '..', '..', 'models'));
  });
});
