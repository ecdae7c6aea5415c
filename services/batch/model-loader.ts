import { createHash } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { unpackTarGz } from '../model/archive';
import { loadModel } from '../model/model';
import type { ArtifactReader, ModelArtifact, ModelRegistry } from './adapters/model-registry';
import { scoringModel, type ScoringModel } from './scoring-model';

/** The archive's bytes or content are not what the registry recorded: the run must not score with it. */
export class ModelIntegrityError extends Error {
  override readonly name = 'ModelIntegrityError';
}

/** The scoring model of a run and the archive it came from. */
export interface ActiveModel {
  readonly model: ScoringModel;
  readonly artifact: ModelArtifact;
}

/**
 * Loads the version the registry names active now: reads its archive, checks the SHA-256 the registry
 * recorded before anything is unpacked, unpacks it into `<workDir>/<version>/` and loads it with the
 * model server's own `loadModel`, which proves it with a test inference. Called once at the start of a
 * run, so a promotion during the run does not mix versions within it.
 */
export async function loadActiveModel(
  registry: ModelRegistry,
  reader: ArtifactReader,
  workDir: string,
): Promise<ActiveModel> {
  const artifact = await registry.activeArtifact();
  const archive = await reader.read(artifact.bucket, artifact.key);
  const sha256 = createHash('sha256').update(archive).digest('hex');
  if (sha256 !== artifact.sha256) {
    throw new ModelIntegrityError(
      `s3://${artifact.bucket}/${artifact.key} has SHA-256 ${sha256}; the registry records ${artifact.sha256} for ${artifact.version}`,
    );
  }
  const dir = path.join(workDir, artifact.version);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  for (const entry of unpackTarGz(Buffer.from(archive.buffer, archive.byteOffset, archive.byteLength))) {
    const target = path.join(dir, entry.name);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, entry.data);
  }
  const model = scoringModel(await loadModel(dir));
  if (model.version !== artifact.version) {
    throw new ModelIntegrityError(
      `the archive of ${artifact.version} holds metadata of ${model.version}; the registry and the artifact disagree`,
    );
  }
  return { model, artifact };
}
