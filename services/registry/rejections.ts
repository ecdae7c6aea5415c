/**
 * Rejections by content. A canary rollout that rolls a candidate back records its model archive's
 * SHA-256 as `<prefix>/rejected/<sha256>` (docs/CONTRACTS.md), a parameter no stack owns, so it
 * outlives the deploy that drops the version. The guard looks up the SHA-256 of each archive a commit
 * would deploy there, so a rejected model renamed (v1.3.0's bytes as v1.3.1) is still refused.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { modelsRoot } from '../model/artifacts';

/** `<prefix>/rejected/<sha256>`: the record of a rejected archive. */
export const rejectedArchiveParameter = (prefix: string, sha256: string): string =>
  `${prefix}/rejected/${sha256}`;

/** The record's document. */
export interface RejectedArchive {
  /** The version that was rejected with this archive. */
  readonly version: string;
  /** SHA-256 (hex) of its `model.tar.gz`. */
  readonly archiveSha256: string;
  readonly status: 'rejected';
}

/** The document the rollout writes when it rejects `version`. */
export const rejectedArchiveDocument = (version: string, archiveSha256: string): string =>
  JSON.stringify({ version, archiveSha256, status: 'rejected' } satisfies RejectedArchive);

/** Reads a record; undefined when it is not one (the guard then fails: it cannot tell). */
export function parseRejectedArchive(text: string): RejectedArchive | undefined {
  try {
    const value = JSON.parse(text) as Partial<RejectedArchive>;
    return typeof value.version === 'string' &&
      typeof value.archiveSha256 === 'string' &&
      /^[0-9a-f]{64}$/.test(value.archiveSha256) &&
      value.status === 'rejected'
      ? { version: value.version, archiveSha256: value.archiveSha256, status: 'rejected' }
      : undefined;
  } catch {
    return undefined;
  }
}

/** SHA-256 (hex) of `<root>/<version>/model.tar.gz`; undefined when the commit has no such file. */
export function archiveSha256(version: string, root = modelsRoot): string | undefined {
  const file = path.join(root, version, 'model.tar.gz');
  if (!existsSync(file)) return undefined;
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}
