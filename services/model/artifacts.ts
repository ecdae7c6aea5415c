import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { unpackTarGz } from './archive';
import { ModelMetadata, parseModelMetadata } from './metadata';

export type * from './metadata';

/**
 * The name of a model version: a folder `models/v<major>.<minor>.<patch>`. Versions are data (any valid
 * folder may be named in `config/model-versions.json`), so this is a plain string.
 */
export type ModelVersion = string;

/** `v<major>.<minor>.<patch>` with no leading zeros. */
const VERSION_PATTERN = /^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

/** Absolute path of the repository's `models/` folder. */
export const modelsRoot = path.resolve(__dirname, '..', '..', 'models');

/** Thrown when a version is misspelt or has no valid folder; the message says how to add one. */
export class UnknownModelVersionError extends Error {
  override readonly name = 'UnknownModelVersionError';
}

/** Whether `name` is a canonical version name (`v1.2.3`, no leading zeros). */
export function isModelVersion(name: string): boolean {
  return VERSION_PATTERN.test(name);
}

/** Orders versions by major, minor, patch. */
export function compareVersions(a: ModelVersion, b: ModelVersion): number {
  const parts = (v: string) => v.slice(1).split('.').map(Number);
  const [pa, pb] = [parts(a), parts(b)];
  return pa[0] - pb[0] || pa[1] - pb[1] || pa[2] - pb[2];
}

/** Folder holding `model.onnx`, `metadata.json`, `model.tar.gz` and `SHA256SUMS` of a version. */
export function modelArtifactDir(version: ModelVersion, root = modelsRoot): string {
  return path.join(root, version);
}

/** The `model.tar.gz` of a version: the SageMaker `ModelDataUrl` asset. */
export function modelArchivePath(version: ModelVersion, root = modelsRoot): string {
  return path.join(modelArtifactDir(version, root), 'model.tar.gz');
}

/** Every version folder under `root` that has a `metadata.json`, oldest first. */
export function listModelVersions(root = modelsRoot): ModelVersion[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && isModelVersion(entry.name))
    .filter((entry) => existsSync(path.join(root, entry.name, 'metadata.json')))
    .map((entry) => entry.name)
    .sort(compareVersions);
}

/**
 * Why `version` cannot be served from `root`, or undefined when its folder is there: the message names the
 * fix (`npm run model:add` writes the folder).
 */
export function unknownVersionProblem(version: string, root = modelsRoot): string | undefined {
  const relative = path.relative(process.cwd(), root) || '.';
  if (!isModelVersion(version)) {
    return `'${version}' is not a version name: use v<major>.<minor>.<patch>, the name of a folder under ${relative}/`;
  }
  if (existsSync(path.join(root, version, 'metadata.json'))) return undefined;
  const known = listModelVersions(root);
  return (
    `'${version}' has no folder ${path.join(relative, version)}/ with a metadata.json; add it with ` +
    `npm run model:add -- --onnx MODEL.onnx --data DATA.csv --version ${version} ` +
    `(versions there now: ${known.join(', ') || 'none'})`
  );
}

/**
 * The validated `metadata.json` of a version (synchronous: constructs call it at synth).
 * @throws UnknownModelVersionError when the folder is missing, with the fix.
 */
export function loadModelMetadata(version: ModelVersion, root = modelsRoot): ModelMetadata {
  const problem = unknownVersionProblem(version, root);
  if (problem) throw new UnknownModelVersionError(problem);
  const file = path.join(modelArtifactDir(version, root), 'metadata.json');
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
