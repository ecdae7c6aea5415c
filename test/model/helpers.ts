import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { extractModelArchive, modelArchivePath, ModelVersion } from '../../services/model/artifacts';
import { FIXTURE_MODELS_DIR } from '../support/model-fixtures';

/**
 * A fresh temp folder holding the extracted `model.tar.gz` of a version (a fixture version unless `root` says
 * otherwise), as SageMaker lays out /opt/ml/model.
 */
export async function extractToTemp(version: ModelVersion, root = FIXTURE_MODELS_DIR): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), `model-${version}-`));
  await extractModelArchive(modelArchivePath(version, root), dir);
  return dir;
}

/** Removes temp folders made by `extractToTemp`. */
export async function removeDirs(dirs: readonly string[]): Promise<void> {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
}

/** Status, headers and parsed JSON body of one HTTP answer. */
export interface JsonAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
}

/** Sends a request and parses the JSON answer. */
export async function request(
  url: string,
  init: { method?: string; body?: string; contentType?: string } = {},
): Promise<JsonAnswer> {
  const response = await fetch(url, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    body: init.body,
    headers: init.contentType === undefined ? {} : { 'content-type': init.contentType },
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}
