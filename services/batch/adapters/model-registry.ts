import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';

/** Where a deployed version's `model.tar.gz` is and the SHA-256 it must have, as the registry records it. */
export interface ModelArtifact {
  readonly version: string;
  readonly bucket: string;
  readonly key: string;
  /** Lower-case hex SHA-256 of the archive's bytes. */
  readonly sha256: string;
}

/** The stage's model registry as the scorer reads it. */
export interface ModelRegistry {
  /** The archive of the version `<prefix>/active-version` names now. */
  activeArtifact(): Promise<ModelArtifact>;
}

/** Reads whole objects (the model archive). */
export interface ArtifactReader {
  read(bucket: string, key: string): Promise<Uint8Array>;
}

/** The registry holds no usable record of the active version's archive: nothing can be scored. */
export class RegistryError extends Error {
  override readonly name = 'RegistryError';
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * {@link ModelRegistry} over Parameter Store: `GetParameter` on `<prefix>/active-version`, then on
 * `<prefix>/versions/<version>`, whose JSON carries `artifact: {bucket, key, sha256}`
 * (docs/CONTRACTS.md, "Model registry").
 */
export function createSsmModelRegistry(client: SSMClient, prefix: string): ModelRegistry {
  const value = async (name: string): Promise<string> => {
    const { Parameter } = await client.send(new GetParameterCommand({ Name: name }));
    const text = Parameter?.Value?.trim();
    if (!text) throw new RegistryError(`${name} is empty`);
    return text;
  };
  return {
    async activeArtifact() {
      const version = await value(`${prefix}/active-version`);
      const name = `${prefix}/versions/${version}`;
      let record: { artifact?: Partial<ModelArtifact> };
      try {
        record = JSON.parse(await value(name)) as typeof record;
      } catch (error) {
        if (error instanceof SyntaxError) throw new RegistryError(`${name} is not JSON: ${error.message}`);
        throw error;
      }
      const { bucket, key, sha256 } = record.artifact ?? {};
      if (typeof bucket !== 'string' || typeof key !== 'string' || !SHA256_HEX.test(sha256 ?? '')) {
        throw new RegistryError(
          `${name} has no artifact {bucket, key, sha256}: deploy the stage again so its registry records the archive`,
        );
      }
      return { version, bucket, key, sha256: sha256! };
    },
  };
}

/** {@link ArtifactReader} over S3 `GetObject`. */
export function createS3ArtifactReader(client: S3Client): ArtifactReader {
  return {
    async read(bucket, key) {
      const { Body } = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (!Body) throw new Error(`s3://${bucket}/${key} has no body`);
      return Body.transformToByteArray();
    },
  };
}
