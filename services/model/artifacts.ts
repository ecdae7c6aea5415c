import { createHash } from 'node:crypto';
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

/** Files the archive SageMaker extracts into `/opt/ml/model` holds, and `SHA256SUMS` must cover. */
const ARCHIVED = ['model.onnx', 'metadata.json'] as const;
const SUMMED = [...ARCHIVED, 'model.tar.gz'] as const;

/**
 * What would make a version folder deploy something other than what was reviewed: `metadata.json` that does
 * not parse or names another version, `SHA256SUMS` that does not match the files, or a `model.tar.gz` whose
 * `model.onnx` / `metadata.json` differ from the folder's. Empty when the folder is consistent.
 */
export function versionFolderProblems(version: ModelVersion, root = modelsRoot): string[] {
  const dir = modelArtifactDir(version, root);
  const shown = path.relative(process.cwd(), dir) || dir;
  const fix = `the files of a version are written together by npm run model:add; restore ${shown}/ from git or add the model again as a new version`;
  const read = (name: string) => {
    const file = path.join(dir, name);
    return existsSync(file) ? readFileSync(file) : undefined;
  };
  const problems: string[] = [];
  try {
    const metadata = loadModelMetadata(version, root);
    if (metadata.version !== version) {
      problems.push(`${shown}/metadata.json says version "${metadata.version}", not "${version}"; ${fix}`);
    }
  } catch (error) {
    return [`${shown}/metadata.json: ${(error as Error).message}`];
  }
  const sums = new Map(
    (read('SHA256SUMS')?.toString('utf8') ?? '')
      .split('\n')
      .map((line) => /^([0-9a-f]{64}) {2}(\S+)$/.exec(line))
      .flatMap((match) => (match ? [[match[2], match[1]] as const] : [])),
  );
  for (const name of SUMMED) {
    const bytes = read(name);
    if (!bytes) problems.push(`${shown}/${name} is missing; ${fix}`);
    else if (!sums.has(name)) problems.push(`${shown}/SHA256SUMS has no line for ${name}; ${fix}`);
    else if (createHash('sha256').update(bytes).digest('hex') !== sums.get(name)) {
      problems.push(`${shown}/${name} does not match its SHA256SUMS line (changed after model:add); ${fix}`);
    }
  }
  const archive = read('model.tar.gz');
  if (archive) {
    let entries: ReturnType<typeof unpackTarGz> = [];
    try {
      entries = unpackTarGz(archive);
    } catch (error) {
      problems.push(`${shown}/model.tar.gz cannot be read (${(error as Error).message}); ${fix}`);
    }
    for (const name of ARCHIVED) {
      const entry = entries.find((e) => e.name === name);
      const bytes = read(name);
      if (entries.length > 0 && (!entry || !bytes || !entry.data.equals(bytes))) {
        problems.push(
          `${shown}/model.tar.gz holds another ${name} than the folder (SageMaker would serve that one); ${fix}`,
        );
      }
    }
  }
  return problems;
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
