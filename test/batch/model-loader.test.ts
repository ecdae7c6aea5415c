import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ModelIntegrityError, loadActiveModel } from '../../services/batch/model-loader';
import { fixtureArchive, fixtureLabel, fixtureRegistry } from './support/model-fixture';

let workDir: string;
beforeEach(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'model-loader-'));
});
afterEach(() => rm(workDir, { recursive: true, force: true }));

test('loads the active version from its archive and scores with it in this process', async () => {
  const fixture = fixtureArchive('v2.0.1');
  const { registry, reader } = fixtureRegistry(fixture);

  const { model, artifact } = await loadActiveModel(registry, reader, workDir);

  expect(artifact).toEqual(fixture.artifact);
  expect(model).toMatchObject({ version: 'v2.0.1', featureCount: 4 });
  const predictions = await model.predict([
    [1, 1, 1, 1],
    [4, 4, 4, 4],
  ]);
  expect(predictions.map((p) => ('label' in p ? p.label : p.value))).toEqual([
    fixtureLabel(4),
    fixtureLabel(16),
  ]);
});

test('refuses an archive whose SHA-256 is not the one the registry records, before unpacking it', async () => {
  const fixture = fixtureArchive('v2.0.1');
  const tampered = Buffer.from(fixture.archive);
  tampered[tampered.length - 20] ^= 0xff;
  const { registry } = fixtureRegistry(fixture);

  const loading = loadActiveModel(registry, { read: async () => tampered }, workDir);

  await expect(loading).rejects.toBeInstanceOf(ModelIntegrityError);
  await expect(loadActiveModel(registry, { read: async () => tampered }, workDir)).rejects.toThrow(
    /has SHA-256 [0-9a-f]{64}; the registry records [0-9a-f]{64} for v2\.0\.1/,
  );
  expect(await readdir(workDir)).toEqual([]);
});

test('refuses an archive of another version than the registry names', async () => {
  const other = fixtureArchive('v2.0.0');
  const registry = { activeArtifact: async () => ({ ...other.artifact, version: 'v2.0.1' }) };

  await expect(loadActiveModel(registry, { read: async () => other.archive }, workDir)).rejects.toThrow(
    'the archive of v2.0.1 holds metadata of v2.0.0',
  );
});
