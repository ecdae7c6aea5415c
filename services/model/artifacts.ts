import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { unpackTarGz } from './archive';
import { ModelMetadata, parseModelMetadata } from './metadata';

export type { FeatureStats, GoldenRequest, ModelMetadata, TrainingInfo } from './metadata';

/** Model versions committed under `models/`: the baseline (VariantA) first, then the candidate (VariantB). */
export const modelVersions = ['v1.0.0', 'v1.1.0'] as const;

/** One of the committed model versions. */
export type ModelVersion = (typeof modelVersions)[number];

/** Absolute path of the repository's `models/` folder. */
export const modelsRoot = path.resolve(__dirname, '..', '..', 'models');

/** Folder holding `model.onnx`, `metadata.json`, `model.tar.gz` and `SHA256SUMS` of a version. */
export function modelArtifactDir(version: ModelVersion): string {
  return path.join(modelsRoot, version);
}

/** The `model.tar.gz` of a version: the SageMaker `ModelDataUrl` asset. */
export function modelArchivePath(version: ModelVersion): string {
  return path.join(modelArtifactDir(version), 'model.tar.gz');
}

/** The validated `metadata.json` of a committed version (synchronous: constructs call it at synth). */
export function loadModelMetadata(version: ModelVersion): ModelMetadata {
  const file = path.join(modelArtifactDir(version), 'metadata.json');
  return parseModelMetadata(JSON.parse(readFileSync(file, 'utf8')));
}

/**
 * Extracts a model archive the way SageMaker does into `/opt/ml/model`, so tests and local runs serve
 * the exact bytes that are deployed.
 * @returns the paths of the extracted files.
 */
export async function extractModelArchive(tarGzPath: string, destDir: string): Promise<string[]> {
  const entries = unpackTarGz(await readFile(tarGzPath));
  const written: string[] = [];
  for (const entry of entries) {
    const target = path.join(destDir, entry.name);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, entry.data);
    written.push(target);
  }
  return written;
}
