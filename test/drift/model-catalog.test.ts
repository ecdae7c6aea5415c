import type { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { createModelCatalog } from '../../services/drift/adapters/model-catalog';
import { FIXTURE_BASELINE, FIXTURE_MODELS_DIR } from '../support/model-fixtures';
import { loadModelMetadata } from '../../services/model/artifacts';

function catalogOver(parameters: Record<string, string>) {
  const reads: string[] = [];
  const provider = {
    get: async (name: string) => {
      reads.push(name);
      return parameters[name];
    },
  } as unknown as SSMProvider;
  return { reads, catalog: createModelCatalog({ parameters: provider, parameterPrefix: '/p/dev/model' }) };
}

describe('drift model catalog', () => {
  it('reads the active version and that version’s training bins from the registry entry', async () => {
    const metadata = loadModelMetadata(FIXTURE_BASELINE, FIXTURE_MODELS_DIR);
    const { catalog, reads } = catalogOver({
      '/p/dev/model/active-version': 'v1.1.0\n',
      '/p/dev/model/versions/v1.1.0': JSON.stringify({
        version: 'v1.1.0',
        featureStats: metadata.featureStats,
      }),
    });
    const version = await catalog.activeVersion();
    expect(version).toBe('v1.1.0');
    expect(await catalog.featureStats(version)).toEqual(metadata.featureStats);
    expect(reads).toEqual(['/p/dev/model/active-version', '/p/dev/model/versions/v1.1.0']);
  });

  it('refuses an entry without feature statistics instead of reporting no drift', async () => {
    const { catalog } = catalogOver({
      '/p/dev/model/versions/v1.0.0': JSON.stringify({ version: 'v1.0.0' }),
    });
    await expect(catalog.featureStats('v1.0.0')).rejects.toThrow(/versions\/v1\.0\.0 has no featureStats/);
  });
});
