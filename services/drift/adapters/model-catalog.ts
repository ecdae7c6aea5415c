import type { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import type { FeatureBins } from '../psi';

/** Where the drift job learns which model is live and what its training data looked like. */
export interface ModelCatalog {
  activeVersion(): Promise<string>;
  /** Training-data bins of one version, from its registry entry. */
  featureStats(version: string): Promise<FeatureBins[]>;
}

/** Options of {@link createModelCatalog}. */
export interface ModelCatalogOptions {
  readonly parameters: SSMProvider;
  /** `/<project>/<stage>/model` (docs/CONTRACTS.md). */
  readonly parameterPrefix: string;
}

const MAX_AGE_SECONDS = 60;

/**
 * Reads the model registry in Parameter Store: `<prefix>/active-version` and the JSON of
 * `<prefix>/versions/<version>`, whose `featureStats` are the committed metadata's (the stage writes
 * them from `models/<version>/metadata.json`). Cached a minute.
 */
export function createModelCatalog(options: ModelCatalogOptions): ModelCatalog {
  const read = async (name: string): Promise<string> => {
    const value = await options.parameters.get(name, { maxAge: MAX_AGE_SECONDS });
    if (typeof value !== 'string' || value.trim() === '') throw new Error(`parameter ${name} is empty`);
    return value.trim();
  };
  return {
    activeVersion: () => read(`${options.parameterPrefix}/active-version`),
    async featureStats(version) {
      const name = `${options.parameterPrefix}/versions/${version}`;
      const entry = JSON.parse(await read(name)) as { featureStats?: unknown };
      if (!Array.isArray(entry.featureStats) || entry.featureStats.length === 0) {
        throw new Error(`parameter ${name} has no featureStats`);
      }
      return entry.featureStats as FeatureBins[];
    },
  };
}
