import { createHash } from 'node:crypto';

/** Prefixes of the batch bucket that the scorer and the workflow agree on. */
export const BATCH_PREFIXES = {
  pending: 'pending/',
  processed: 'processed/',
  failed: 'failed/',
  checkpoints: 'checkpoints/',
} as const;

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Identity of one version of an input object: a re-upload under the same key is new input. */
export interface InputObjectId {
  readonly key: string;
  readonly etag: string;
}

/**
 * Deterministic, S3-safe name for everything derived from one input object version
 * (its analytics object and its checkpoint), so a re-run overwrites instead of adding.
 */
export function outputNameFor(input: InputObjectId): string {
  const base = input.key.split('/').pop() ?? '';
  const stem =
    base
      .replace(/\.[^.]*$/, '')
      .replace(/[^A-Za-z0-9_-]+/g, '-')
      .slice(0, 64) || 'input';
  return `${stem}-${sha256(`${input.key}\n${input.etag}`).slice(0, 20)}`;
}

/**
 * Deterministic predictionId: a hash-based UUID (version 8). A row with a requestId gets the id of that
 * requestId in the `batch` namespace (CONTRACTS.md "Prediction ids", `predictionIdForRequestId('batch', id)`
 * of services/inference), so the same row in a re-upload or another input object collapses onto one
 * prediction; the predict API scopes its requestIds by caller, so a batch row can neither read nor block
 * an API caller's prediction. A row without one gets an id of its input object
 * version and line number, which no other writer can produce.
 */
export function predictionIdFor(input: InputObjectId, lineNumber: number, requestId?: string): string {
  return predictionIdsFor(input)(lineNumber, requestId);
}

/** {@link predictionIdFor} for many lines of one object: the object's part of the hash is computed once. */
export function predictionIdsFor(input: InputObjectId): (lineNumber: number, requestId?: string) => string {
  const objectPart = createHash('sha256').update(`batch:${input.key}\n${input.etag}\n`, 'utf8');
  return (lineNumber, requestId) =>
    uuidV8(
      requestId !== undefined
        ? createHash('sha256').update(`requestId:batch\n${requestId}`, 'utf8').digest()
        : objectPart.copy().update(String(lineNumber)).digest(),
    );
}

function uuidV8(digest: Buffer): string {
  const bytes = digest.subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x80;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** `dt=YYYY-MM-DD/hour=HH/` (UTC) for an ISO-8601 timestamp. */
export function partitionPath(timestamp: string): string {
  const iso = new Date(timestamp).toISOString();
  return `dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}/`;
}

/** Input lines per analytics part (and per rejected-lines part): bounds what one object holds in memory. */
export const LINES_PER_PART = 10_000;

const partSuffix = (part: number): string => `part-${String(part).padStart(5, '0')}`;

/** Key of analytics part `part` (lines `part × LINES_PER_PART + 1` onwards) of one input object version. */
export function analyticsKeyFor(
  prefix: string,
  input: InputObjectId,
  scoredAt: string,
  part: number,
): string {
  return `${prefix}${partitionPath(scoredAt)}${outputNameFor(input)}-${partSuffix(part)}.json`;
}

/** Key of the lines of part `part` of one input object version that were not scored, with their reasons. */
export function rejectedKeyFor(input: InputObjectId, part: number): string {
  return `${destinationKeyFor(input.key, 'failed')}.rejected/${outputNameFor(input)}-${partSuffix(part)}.jsonl`;
}

/** Key of the checkpoint that pins `scoredAt` for one input object version across re-runs. */
export function checkpointKeyFor(input: InputObjectId): string {
  return `${BATCH_PREFIXES.checkpoints}${outputNameFor(input)}.json`;
}

/** Where a finished input goes: `pending/a/b.jsonl` → `processed/a/b.jsonl` or `failed/a/b.jsonl`. */
export function destinationKeyFor(pendingKey: string, outcome: 'processed' | 'failed'): string {
  const relative = pendingKey.startsWith(BATCH_PREFIXES.pending)
    ? pendingKey.slice(BATCH_PREFIXES.pending.length)
    : pendingKey;
  return `${BATCH_PREFIXES[outcome]}${relative}`;
}

/**
 * The shard (0 to `shardCount` - 1) that scores a pending key: the key's SHA-256 decides, so every task
 * of a run, and a retried task, agrees on who owns a key whatever order or moment it lists `pending/`.
 */
export function shardOf(key: string, shardCount: number): number {
  return createHash('sha256').update(key, 'utf8').digest().readUInt32BE(0) % shardCount;
}

/** `invokedVariant` of batch predictions: scored in the batch task's own process, by no endpoint variant. */
export const IN_PROCESS_VARIANT = 'in-process';
