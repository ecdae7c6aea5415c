import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import type { FeatureBins } from '../psi';

/** Where the drift job learns which model is live and what its training data looked like. */
export interface ModelCatalog {
  activeVersion(): Promise<string>;
  /** `featureStats` of `<version>/metadata.json`. */
  featureStats(version: string): Promise<FeatureBins[]>;
}

/** Options of {@link createModelCatalog}. */
export interface ModelCatalogOptions {
  readonly parameters: SSMProvider;
  readonly s3: S3Client;
  readonly parameterPrefix: string;
  readonly metadataBucket: string;
  readonly metadataPrefix: string;
}

const ACTIVE_VERSION_MAX_AGE_SECONDS = 60;

/**
 * Active version from Parameter Store (`<prefix>/active-version`, cached a minute); metadata from the
 * S3 copy of `models/<version>/metadata.json`, because the per-version parameter (CONTRACTS.md) holds no
 * feature statistics and a standard parameter caps at 4 KB.
 */
export function createModelCatalog(options: ModelCatalogOptions): ModelCatalog {
  return {
    async activeVersion() {
      const name = `${options.parameterPrefix}/active-version`;
      const value = await options.parameters.get(name, { maxAge: ACTIVE_VERSION_MAX_AGE_SECONDS });
      if (typeof value !== 'string' || value.trim() === '') throw new Error(`parameter ${name} is empty`);
      return value.trim();
    },
    async featureStats(version) {
      const key = `${options.metadataPrefix}${version}/metadata.json`;
      const { Body } = await options.s3.send(
        new GetObjectCommand({ Bucket: options.metadataBucket, Key: key }),
      );
      const metadata = JSON.parse((await Body?.transformToString('utf-8')) ?? '') as {
        featureStats?: unknown;
      };
      if (!Array.isArray(metadata.featureStats) || metadata.featureStats.length === 0) {
        throw new Error(`s3://${options.metadataBucket}/${key} has no featureStats`);
      }
      return metadata.featureStats as FeatureBins[];
    },
  };
}
