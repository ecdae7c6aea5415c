import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { loadActiveModel } from '../../services/batch/model-loader';
import type { ScoringModel } from '../../services/batch/scoring-model';

/** The bench's model: a `model.tar.gz` on disk loaded through the scorer's own loader (checksum, unpack, `loadModel`). */
export async function loadArchiveModel(
  archivePath: string,
  version: string,
  workDir: string,
): Promise<ScoringModel> {
  const archive = await readFile(archivePath);
  const artifact = {
    version,
    bucket: 'local',
    key: archivePath,
    sha256: createHash('sha256').update(archive).digest('hex'),
  };
  const { model } = await loadActiveModel(
    { activeArtifact: async () => artifact },
    { read: async () => archive },
    workDir,
  );
  return model;
}
