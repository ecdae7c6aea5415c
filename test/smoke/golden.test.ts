import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { loadGolden } from '../../services/smoke/main';
import { metadataDocument } from '../support/model-metadata';

let modelsDir: string;

const writeVersion = async (version: string, text: string) => {
  await mkdir(path.join(modelsDir, version), { recursive: true });
  await writeFile(path.join(modelsDir, version, 'metadata.json'), text);
};

beforeAll(async () => {
  modelsDir = await mkdtemp(path.join(tmpdir(), 'smoke-golden-'));
  const classifier = (version: string, label: string) =>
    JSON.stringify(
      metadataDocument({
        version,
        featureCount: 2,
        labels: ['no', 'yes'],
        golden: [{ features: [0.5, -0.5], label }],
      }),
    );
  await writeVersion('v5.0.0', classifier('v5.0.0', 'no'));
  await writeVersion('v5.1.0', classifier('v5.1.0', 'yes'));
  // On disk but not deployed: its (broken) rows must not reach the smoke test.
  await writeVersion('v5.2.0', '{"version": "v5.2.0"');
});

afterAll(() => rm(modelsDir, { recursive: true, force: true }));

describe('loadGolden', () => {
  it('reads the golden rows of the deployed versions only', () => {
    expect(loadGolden(modelsDir, ['v5.0.0', 'v5.1.0'])).toEqual({
      'v5.0.0': [{ features: [0.5, -0.5], label: 'no' }],
      'v5.1.0': [{ features: [0.5, -0.5], label: 'yes' }],
    });
  });

  it('reads a version both variants serve once', () => {
    expect(Object.keys(loadGolden(modelsDir, ['v5.1.0', 'v5.1.0']))).toEqual(['v5.1.0']);
  });

  it('names a deployed version that has no metadata', () => {
    expect(() => loadGolden(modelsDir, ['v5.0.0', 'v5.3.0'])).toThrow(
      `v5.3.0 is deployed but ${path.join(modelsDir, 'v5.3.0', 'metadata.json')} does not exist`,
    );
  });
});
