import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { loadGolden } from '../../services/smoke/main';
import { FIXTURE_MODELS_DIR } from '../support/model-fixtures';

let modelsDir: string;
const classifier = 'v2.0.0';
const regressor = 'v4.0.0';

beforeAll(async () => {
  modelsDir = await mkdtemp(path.join(tmpdir(), 'smoke-golden-'));
  for (const version of [classifier, regressor]) {
    await mkdir(path.join(modelsDir, version));
    await copyFile(
      path.join(FIXTURE_MODELS_DIR, version, 'metadata.json'),
      path.join(modelsDir, version, 'metadata.json'),
    );
  }
  // On disk but not deployed: its (broken) rows must not reach the smoke test.
  await mkdir(path.join(modelsDir, 'v9.0.0'));
  await writeFile(path.join(modelsDir, 'v9.0.0', 'metadata.json'), '{"version": "v9.0.0"');
});

afterAll(() => rm(modelsDir, { recursive: true, force: true }));

const goldenOf = async (version: string): Promise<unknown> =>
  (
    JSON.parse(await readFile(path.join(FIXTURE_MODELS_DIR, version, 'metadata.json'), 'utf8')) as {
      golden: unknown;
    }
  ).golden;

describe('loadGolden', () => {
  it("reads the deployed versions' golden rows only: labels of a classifier, values of a regressor", async () => {
    const golden = loadGolden(modelsDir, [classifier, regressor]);
    expect(Object.keys(golden)).toEqual([classifier, regressor]);
    expect(golden[classifier]).toEqual(await goldenOf(classifier));
    expect(golden[regressor]).toEqual(await goldenOf(regressor));
    expect(golden[classifier]!.every((g) => 'label' in g)).toBe(true);
    expect(golden[regressor]!.every((g) => 'value' in g && typeof g.value === 'number')).toBe(true);
  });

  it('reads a version both variants serve once', () => {
    expect(Object.keys(loadGolden(modelsDir, [regressor, regressor]))).toEqual([regressor]);
  });

  it('names a deployed version that has no metadata', () => {
    expect(() => loadGolden(modelsDir, [classifier, 'v5.3.0'])).toThrow(
      `v5.3.0 is deployed but ${path.join(modelsDir, 'v5.3.0', 'metadata.json')} does not exist`,
    );
  });
});
