import { createHash } from 'node:crypto';
import type { BatchConfig } from './config';
import { analyticsLine } from './analytics-schema';
import { InvalidModelInputError, type ModelPrediction, type ScoringModel } from './scoring-model';
import { ObjectChangedError, type ObjectInfo, type ObjectStore } from './adapters/object-store';
import type { PredictionItem, PredictionsTable } from './adapters/predictions-table';
import { parseLine, splitLines, type InputRow, type MalformedLine } from './input';
import { TextBufferPool, type TextBuffer } from './text-buffer';
import {
  BATCH_PREFIXES,
  LINES_PER_PART,
  IN_PROCESS_VARIANT,
  analyticsKeyFor,
  checkpointKeyFor,
  destinationKeyFor,
  predictionIdsFor,
  rejectedKeyFor,
  shardOf,
  type InputObjectId,
} from './naming';

/** Structured progress output; Powertools `Logger` satisfies it. */
export interface ProgressLog {
  info(message: string, fields: Record<string, unknown>): void;
  warn(message: string, fields: Record<string, unknown>): void;
}

/** Adapters the scorer runs on, created once by `main.ts` (or by a test). */
export interface ScorerDeps {
  readonly store: ObjectStore;
  readonly table: PredictionsTable;
  /** The run's model, loaded once before it starts (model-loader.ts). */
  readonly model: ScoringModel;
  readonly log: ProgressLog;
  readonly now?: () => Date;
}

/** Why an input object went to `failed/`. */
export type FailureCode = 'TooLarge' | 'EmptyInput' | 'NoValidLines';

/** Per-object report, logged and returned. Every non-blank line is written, recovered, a duplicate or rejected. */
export interface ObjectSummary {
  readonly key: string;
  readonly outcome: 'processed' | 'failed';
  /** Non-blank lines in the object. */
  readonly lines: number;
  /** Predictions written to the table by this run. */
  readonly written: number;
  /** Predictions a crashed earlier run had already written for this object, kept as they were. */
  readonly recovered: number;
  /** Lines whose requestId already has a prediction of the same features (an earlier line or input). */
  readonly duplicates: number;
  /** Lines not scored: bad JSON, shape or number, rejected by the model, or a requestId conflict. */
  readonly malformed: number;
  /** The first few malformed lines, for the log and the error report; all of them are in `rejectedKeys`. */
  readonly malformedSample: readonly MalformedLine[];
  /** Objects under `failed/` listing every malformed or duplicate line with its reason. */
  readonly rejectedKeys: readonly string[];
  /** Analytics parts written for this object. */
  readonly analyticsKeys: readonly string[];
  /** True when an earlier run had finished the outputs and only the move was left. */
  readonly resumed?: boolean;
  /**
   * True when the key was overwritten while this version was scored: this version's predictions stand,
   * the new upload stays in `pending/` for the next run, and this version is not moved.
   */
  readonly superseded?: boolean;
  readonly failure?: { readonly code: FailureCode; readonly message: string };
}

/** Busy time per stage, seconds summed over concurrent calls (so it can exceed the wall time). */
export interface StageSeconds {
  /** Waiting for input bytes and parsing lines. */
  read: number;
  /** Model inference, in this process. */
  score: number;
  /** S3 writes: analytics and rejected parts, checkpoints, moves. */
  writeS3: number;
  /** DynamoDB calls. */
  writeDynamo: number;
}

/** Totals of one run. */
export interface RunSummary {
  readonly objects: ObjectSummary[];
  readonly processed: number;
  readonly failed: number;
  readonly written: number;
  readonly malformed: number;
  readonly rowsPerSecond: number;
  readonly stageSeconds: StageSeconds;
}

const TTL_SECONDS = 30 * 24 * 3600;
const MALFORMED_SAMPLE = 10;
const MAX_REJECTED_LINE_CHARS = 4096;

interface Checkpoint {
  readonly inputKey: string;
  readonly etag: string;
  readonly scoredAt: string;
  /** Set once every table write and output part is done: a re-run only moves the input. */
  readonly outputsComplete?: { readonly analyticsKeys: string[]; readonly rejectedKeys: string[] };
}

interface ScoredRow {
  readonly row: InputRow;
  readonly prediction: ModelPrediction;
  readonly modelVersion: string;
  readonly latencyMs?: number;
}

/** What one run has done so far, shared by its objects and read by the progress timer. */
class RunProgress {
  rows = 0;
  readonly stages: StageSeconds = { read: 0, score: 0, writeS3: 0, writeDynamo: 0 };
  readonly started = performance.now();

  async timed<T>(stage: keyof StageSeconds, work: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await work();
    } finally {
      this.stages[stage] += (performance.now() - start) / 1000;
    }
  }

  rate(): number {
    const seconds = (performance.now() - this.started) / 1000;
    return seconds > 0 ? Math.round(this.rows / seconds) : 0;
  }
}

/**
 * Scores up to `maxObjects` objects of this task's shard under `pending/`, one after another, logging
 * progress every `progressIntervalSeconds`; throws only on infrastructure errors (bad input lines are
 * isolated). Tasks of one run own disjoint keys ({@link shardOf}), so each object has one scorer.
 */
export async function runScorer(config: BatchConfig, deps: ScorerDeps): Promise<RunSummary> {
  const { shardCount, shardIndex } = config;
  const inputs = await deps.store.list(
    config.batchBucket,
    BATCH_PREFIXES.pending,
    config.maxObjects,
    shardCount > 1 ? (key) => shardOf(key, shardCount) === shardIndex : undefined,
  );
  deps.log.info('run started', {
    pendingObjects: inputs.length,
    bucket: config.batchBucket,
    shard: `${shardIndex + 1}/${shardCount}`,
    modelVersion: deps.model.version,
  });
  const progress = new RunProgress();
  let current = '';
  let lastRows = 0;
  let lastAt = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    deps.log.info('progress', {
      key: current,
      rowsScored: progress.rows,
      rowsPerSecond: Math.round((progress.rows - lastRows) / ((now - lastAt) / 1000)),
      averageRowsPerSecond: progress.rate(),
    });
    lastRows = progress.rows;
    lastAt = now;
  }, config.progressIntervalSeconds * 1000);
  timer.unref();
  const objects: ObjectSummary[] = [];
  try {
    for (const input of inputs) {
      current = input.key;
      objects.push(await scoreObject(config, deps, input, progress));
    }
  } finally {
    clearInterval(timer);
  }
  const round = (n: number): number => Math.round(n * 1000) / 1000;
  const summary: RunSummary = {
    objects,
    processed: objects.filter((o) => o.outcome === 'processed').length,
    failed: objects.filter((o) => o.outcome === 'failed').length,
    written: objects.reduce((sum, o) => sum + o.written, 0),
    malformed: objects.reduce((sum, o) => sum + o.malformed, 0),
    rowsPerSecond: progress.rate(),
    stageSeconds: {
      read: round(progress.stages.read),
      score: round(progress.stages.score),
      writeS3: round(progress.stages.writeS3),
      writeDynamo: round(progress.stages.writeDynamo),
    },
  };
  deps.log.info('run finished', {
    processed: summary.processed,
    failed: summary.failed,
    written: summary.written,
    malformed: summary.malformed,
    rowsScored: progress.rows,
    rowsPerSecond: summary.rowsPerSecond,
    stageSeconds: summary.stageSeconds,
  });
  return summary;
}

/** Output of one part of an object (LINES_PER_PART input lines), flushed once all its batches are done. */
interface Part {
  readonly index: number;
  /** Analytics lines of the part's stored rows (bytes from the object's pool, see text-buffer.ts). */
  readonly records: TextBuffer;
  /** Lines of the part that were not scored, with their reasons. */
  readonly rejected: TextBuffer;
  openBatches: number;
  closed: boolean;
}

interface Counts {
  lines: number;
  written: number;
  recovered: number;
  duplicates: number;
  malformed: number;
  readonly malformedSample: MalformedLine[];
  readonly analyticsKeys: string[];
  readonly rejectedKeys: string[];
}

/**
 * Scores one input object version and moves it out of `pending/`. The object is streamed: lines are
 * parsed as they arrive, batches of rows are scored and written while the next ones are read, and each
 * part's analytics and rejected lines are written once its rows are in the table. Outputs are named
 * after the object's key and etag, the checkpoint pins the timestamp, and the move (bound to the listed
 * version by its ETag) comes last, so a crash at any point leaves a state that the next run completes
 * without losing or duplicating a prediction.
 */
export async function scoreObject(
  config: BatchConfig,
  deps: ScorerDeps,
  input: ObjectInfo,
  progress: RunProgress = new RunProgress(),
): Promise<ObjectSummary> {
  const { store, log } = deps;
  const id: InputObjectId = { key: input.key, etag: input.etag };
  log.info('object started', { key: input.key, bytes: input.size });
  const counts: Counts = {
    lines: 0,
    written: 0,
    recovered: 0,
    duplicates: 0,
    malformed: 0,
    malformedSample: [],
    analyticsKeys: [],
    rejectedKeys: [],
  };

  if (input.size > config.maxObjectBytes) {
    return fail(config, deps, input, counts, progress, {
      code: 'TooLarge',
      message: `object is ${input.size} bytes, over the ${config.maxObjectBytes}-byte limit (MAX_OBJECT_BYTES)`,
    });
  }

  const stored = await loadCheckpoint(config, deps, id);
  if (stored?.outputsComplete) {
    counts.analyticsKeys.push(...stored.outputsComplete.analyticsKeys);
    counts.rejectedKeys.push(...stored.outputsComplete.rejectedKeys);
    return finish(config, deps, input, counts, progress, true);
  }

  let body: AsyncIterable<Uint8Array | string>;
  try {
    body = await store.read(config.batchBucket, input.key, input.etag);
  } catch (error) {
    if (!(error instanceof ObjectChangedError)) throw error;
    // Overwritten between the listing and the read: the new version is listed by the next run.
    log.warn('object changed before it was read; the new version waits for the next run', {
      key: input.key,
    });
    return { ...counts, key: input.key, outcome: 'processed', superseded: true };
  }
  const fresh = stored === undefined;
  const checkpoint = stored ?? (await createCheckpoint(config, deps, id, progress));

  const itemFor = itemFactory(id, checkpoint.scoredAt);
  // One entry per distinct requestId of the object, of constant size whatever the row's width.
  const seenRequestIds = new Map<string, { readonly lineNumber: number; readonly features: string }>();
  const parts = new Map<number, Part>();
  const analyticsBuffers = new TextBufferPool();
  const rejectedBuffers = new TextBufferPool();
  const inFlight = new Set<Promise<void>>();
  let failure: { readonly error: unknown } | undefined;

  const track = (work: Promise<void>): void => {
    const tracked = work.then(
      () => void inFlight.delete(tracked),
      (error: unknown) => {
        inFlight.delete(tracked);
        failure ??= { error };
      },
    );
    inFlight.add(tracked);
  };

  const reject = (part: Part, lineNumber: number, reason: string, line: string, count = true): void => {
    if (count) {
      counts.malformed++;
      if (counts.malformedSample.length < MALFORMED_SAMPLE)
        counts.malformedSample.push({ lineNumber, reason });
    }
    part.rejected.appendLine(
      JSON.stringify({ lineNumber, reason, line: line.slice(0, MAX_REJECTED_LINE_CHARS) }),
    );
  };

  const flushIfDone = (part: Part): void => {
    if (!part.closed || part.openBatches > 0) return;
    parts.delete(part.index);
    track(
      flushPart(config, deps, id, checkpoint.scoredAt, part, counts, progress).then(() => {
        analyticsBuffers.release(part.records);
        rejectedBuffers.release(part.rejected);
      }),
    );
  };

  const partFor = (index: number): Part => {
    let part = parts.get(index);
    if (!part) {
      for (const earlier of parts.values()) {
        earlier.closed = true;
        flushIfDone(earlier);
      }
      part = {
        index,
        records: analyticsBuffers.acquire(),
        rejected: rejectedBuffers.acquire(),
        openBatches: 0,
        closed: false,
      };
      parts.set(index, part);
    }
    return part;
  };

  const writeBatch = async (part: Part, rows: InputRow[]): Promise<void> => {
    const { scored, rejected } = await scoreRows(deps.model, rows, progress);
    for (const r of rejected) reject(part, r.lineNumber, r.reason, lineOf(rows, r.lineNumber));
    const owned: ScoredRow[] = [];
    const shared: ScoredRow[] = [];
    for (const s of scored) {
      const { requestId } = s.row;
      if (requestId === undefined) {
        owned.push(s);
        continue;
      }
      const features = featuresDigest(s.row.features);
      const earlier = seenRequestIds.get(requestId);
      if (earlier === undefined) {
        seenRequestIds.set(requestId, { lineNumber: s.row.lineNumber, features });
        shared.push(s);
      } else if (earlier.features === features) {
        counts.duplicates++;
        reject(
          part,
          s.row.lineNumber,
          `duplicate of line ${earlier.lineNumber} (same requestId and features)`,
          rowText(s.row),
          false,
        );
      } else {
        reject(
          part,
          s.row.lineNumber,
          `requestId conflict: line ${earlier.lineNumber} used "${requestId}" with other features`,
          rowText(s.row),
        );
      }
    }
    await Promise.all([
      writeOwned(deps.table, itemFor, fresh, owned, part, counts, progress),
      writeShared(config, deps.table, itemFor, checkpoint, shared, part, counts, progress, reject),
    ]);
    progress.rows += rows.length;
  };

  let blocked = 0;
  const dispatch = async (part: Part, rows: InputRow[]): Promise<void> => {
    const waitStarted = performance.now();
    while (inFlight.size >= config.scoreConcurrency && !failure) await Promise.race(inFlight);
    blocked += performance.now() - waitStarted;
    if (failure) return;
    part.openBatches++;
    track(
      writeBatch(part, rows).finally(() => {
        part.openBatches--;
        flushIfDone(part);
      }),
    );
  };

  let batch: InputRow[] = [];
  let batchPart: Part | undefined;
  const lines = splitLines(body)[Symbol.asyncIterator]();
  // Read time: the loop's wall time less the time it waited for a free batch slot.
  const readStarted = performance.now();
  const blockedBefore = blocked;
  for (;;) {
    const next = await lines.next();
    if (next.done || failure) break;
    const text = next.value.text.trim();
    if (text === '') continue;
    counts.lines++;
    const { lineNumber } = next.value;
    const parsed = parseLine(text, lineNumber);
    // A batch never spans two parts, and a part is closed only after its last batch is dispatched.
    const partIndex = Math.floor((lineNumber - 1) / LINES_PER_PART);
    if (
      batchPart &&
      batch.length > 0 &&
      (batchPart.index !== partIndex || batch.length >= config.batchSize)
    ) {
      await dispatch(batchPart, batch);
      batch = [];
    }
    const part = partFor(partIndex);
    if ('reason' in parsed) {
      reject(part, parsed.lineNumber, parsed.reason, text);
      continue;
    }
    batchPart = part;
    batch.push(parsed);
  }
  progress.stages.read += (performance.now() - readStarted - (blocked - blockedBefore)) / 1000;
  if (failure) await lines.return?.(undefined);
  if (!failure && batch.length > 0 && batchPart) await dispatch(batchPart, batch);
  if (!failure) {
    for (const part of parts.values()) {
      part.closed = true;
      flushIfDone(part);
    }
  }
  while (inFlight.size > 0) await Promise.race(inFlight);
  if (failure) throw failure.error;

  if (counts.lines === 0) {
    return fail(config, deps, input, counts, progress, {
      code: 'EmptyInput',
      message: 'object has no lines',
    });
  }
  if (counts.written + counts.recovered + counts.duplicates === 0) {
    return fail(config, deps, input, counts, progress, {
      code: 'NoValidLines',
      message: `none of the ${counts.lines} lines could be scored; each is listed with its reason under ${destinationKeyFor(input.key, 'failed')}.rejected/`,
    });
  }
  counts.analyticsKeys.sort();
  counts.rejectedKeys.sort();
  await progress.timed('writeS3', () =>
    store.putText(
      config.batchBucket,
      checkpointKeyFor(id),
      JSON.stringify({
        ...checkpoint,
        outputsComplete: { analyticsKeys: counts.analyticsKeys, rejectedKeys: counts.rejectedKeys },
      } satisfies Checkpoint),
      'application/json',
    ),
  );
  return finish(config, deps, input, counts, progress, false);
}

/** Identifies a row's features in 24 characters (128 bits of SHA-256), however many there are. */
const featuresDigest = (features: readonly number[]): string =>
  createHash('sha256').update(JSON.stringify(features)).digest().toString('base64', 0, 16);

const rowText = (row: InputRow): string =>
  JSON.stringify(
    row.requestId === undefined
      ? { features: row.features }
      : { features: row.features, requestId: row.requestId },
  );

const lineOf = (rows: readonly InputRow[], lineNumber: number): string => {
  const row = rows.find((r) => r.lineNumber === lineNumber);
  return row ? rowText(row) : '';
};

/** Rows without requestId: their ids belong to this object version alone, so they are batch-written. */
async function writeOwned(
  table: PredictionsTable,
  itemFor: (scored: ScoredRow) => PredictionItem,
  fresh: boolean,
  rows: readonly ScoredRow[],
  part: Part,
  counts: Counts,
  progress: RunProgress,
): Promise<void> {
  if (rows.length === 0) return;
  const items = rows.map(itemFor);
  // A run that created the checkpoint is the first to write these ids; a resumed one keeps what is there.
  const existing = fresh
    ? new Map<string, PredictionItem>()
    : await progress.timed('writeDynamo', () => table.getMany(items.map((i) => i.predictionId)));
  const missing = items.filter((i) => !existing.has(i.predictionId));
  await progress.timed('writeDynamo', () => table.putOwned(missing));
  counts.written += missing.length;
  counts.recovered += existing.size;
  for (const item of missing) part.records.appendLine(analyticsLine(item));
  for (const item of existing.values()) part.records.appendLine(analyticsLine(item));
}

/** Rows with a requestId share their id with every batch input: conditional puts, conflicts rejected. */
async function writeShared(
  config: BatchConfig,
  table: PredictionsTable,
  itemFor: (scored: ScoredRow) => PredictionItem,
  checkpoint: Checkpoint,
  rows: readonly ScoredRow[],
  part: Part,
  counts: Counts,
  progress: RunProgress,
  reject: (part: Part, lineNumber: number, reason: string, line: string, count?: boolean) => void,
): Promise<void> {
  if (rows.length === 0) return;
  const outcomes = await progress.timed('writeDynamo', () =>
    mapLimit(rows, config.writeConcurrency, async (s) => {
      const item = itemFor(s);
      return { s, item, outcome: await table.putIfAbsent(item) };
    }),
  );
  for (const { s, item, outcome } of outcomes) {
    if (outcome.status === 'created') {
      counts.written++;
      part.records.appendLine(analyticsLine(item));
    } else if (isOwnEarlierWrite(outcome.existing, checkpoint)) {
      counts.recovered++;
      part.records.appendLine(analyticsLine(outcome.existing));
    } else if (sameFeatures(outcome.existing.inputFeatures, s.row.features)) {
      counts.duplicates++;
      reject(
        part,
        s.row.lineNumber,
        `duplicate: requestId "${s.row.requestId}" already has prediction ${item.predictionId} of the same features`,
        rowText(s.row),
        false,
      );
    } else {
      reject(
        part,
        s.row.lineNumber,
        `requestId conflict: "${s.row.requestId}" already has prediction ${item.predictionId} of other features`,
        rowText(s.row),
      );
    }
  }
}

const sameFeatures = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

async function flushPart(
  config: BatchConfig,
  deps: ScorerDeps,
  id: InputObjectId,
  scoredAt: string,
  part: Part,
  counts: Counts,
  progress: RunProgress,
): Promise<void> {
  const writes: Promise<void>[] = [];
  if (part.records.lines > 0) {
    const key = analyticsKeyFor(config.analyticsPrefix, id, scoredAt, part.index);
    counts.analyticsKeys.push(key);
    writes.push(deps.store.putText(config.analyticsBucket, key, part.records.view(), 'application/x-ndjson'));
  }
  if (part.rejected.lines > 0) {
    const key = rejectedKeyFor(id, part.index);
    counts.rejectedKeys.push(key);
    writes.push(deps.store.putText(config.batchBucket, key, part.rejected.view(), 'application/x-ndjson'));
  }
  await progress.timed('writeS3', () => Promise.all(writes));
}

const summaryOf = (input: ObjectInfo, counts: Counts, outcome: ObjectSummary['outcome']): ObjectSummary => ({
  key: input.key,
  outcome,
  lines: counts.lines,
  written: counts.written,
  recovered: counts.recovered,
  duplicates: counts.duplicates,
  malformed: counts.malformed,
  malformedSample: [...counts.malformedSample],
  rejectedKeys: [...counts.rejectedKeys],
  analyticsKeys: [...counts.analyticsKeys],
});

async function fail(
  config: BatchConfig,
  deps: ScorerDeps,
  input: ObjectInfo,
  counts: Counts,
  progress: RunProgress,
  failure: NonNullable<ObjectSummary['failure']>,
): Promise<ObjectSummary> {
  const summary: ObjectSummary = { ...summaryOf(input, counts, 'failed'), failure };
  const report = {
    inputKey: input.key,
    etag: input.etag,
    bytes: input.size,
    ...failure,
    lines: counts.lines,
    malformed: counts.malformed,
    malformedSample: counts.malformedSample,
    rejectedKeys: counts.rejectedKeys,
  };
  await progress.timed('writeS3', () =>
    deps.store.putText(
      config.batchBucket,
      `${destinationKeyFor(input.key, 'failed')}.error.json`,
      JSON.stringify(report, null, 2),
      'application/json',
    ),
  );
  const moved = await move(config, deps, input, 'failed', progress);
  if (!moved) return { ...summary, superseded: true };
  deps.log.warn('object failed', { ...summary });
  return summary;
}

async function finish(
  config: BatchConfig,
  deps: ScorerDeps,
  input: ObjectInfo,
  counts: Counts,
  progress: RunProgress,
  resumed: boolean,
): Promise<ObjectSummary> {
  const moved = await move(config, deps, input, 'processed', progress);
  const summary: ObjectSummary = {
    ...summaryOf(input, counts, 'processed'),
    ...(resumed ? { resumed } : {}),
    ...(moved ? {} : { superseded: true }),
  };
  deps.log.info('object processed', { ...summary });
  return summary;
}

/**
 * Moves the listed version out of `pending/`: copy and delete are both conditional on its ETag, so an
 * upload that replaced it meanwhile is neither archived under its name nor deleted. Returns false then.
 */
async function move(
  config: BatchConfig,
  deps: ScorerDeps,
  input: ObjectInfo,
  outcome: 'processed' | 'failed',
  progress: RunProgress,
): Promise<boolean> {
  const { store, log } = deps;
  let moved = true;
  await progress.timed('writeS3', async () => {
    try {
      await store.copy(config.batchBucket, input.key, input.etag, destinationKeyFor(input.key, outcome));
      await store.delete(config.batchBucket, input.key, input.etag);
    } catch (error) {
      if (!(error instanceof ObjectChangedError)) throw error;
      moved = false;
      log.warn(
        'object was overwritten while it was scored; the new version stays in pending/ for the next run',
        {
          key: input.key,
          scoredEtag: input.etag,
        },
      );
    }
    await store.delete(config.batchBucket, checkpointKeyFor(input));
  });
  return moved;
}

async function loadCheckpoint(
  config: BatchConfig,
  deps: ScorerDeps,
  id: InputObjectId,
): Promise<Checkpoint | undefined> {
  const stored = await deps.store.getTextIfExists(config.batchBucket, checkpointKeyFor(id));
  if (stored === undefined) return undefined;
  const checkpoint = JSON.parse(stored) as Checkpoint;
  deps.log.info('object resumed from checkpoint', { key: id.key, scoredAt: checkpoint.scoredAt });
  return checkpoint;
}

async function createCheckpoint(
  config: BatchConfig,
  deps: ScorerDeps,
  id: InputObjectId,
  progress: RunProgress,
): Promise<Checkpoint> {
  const checkpoint: Checkpoint = {
    inputKey: id.key,
    etag: id.etag,
    scoredAt: (deps.now ?? (() => new Date()))().toISOString(),
  };
  await progress.timed('writeS3', () =>
    deps.store.putText(
      config.batchBucket,
      checkpointKeyFor(id),
      JSON.stringify(checkpoint),
      'application/json',
    ),
  );
  return checkpoint;
}

/** An item this object's earlier, crashed run wrote: same pinned timestamp, batch source. */
const isOwnEarlierWrite = (existing: PredictionItem, checkpoint: Checkpoint): boolean =>
  existing.source === 'batch' && existing.timestamp === checkpoint.scoredAt;

/** Builds the table items of one object version, everything per-object computed once. */
function itemFactory(id: InputObjectId, scoredAt: string): (scored: ScoredRow) => PredictionItem {
  const predictionIdFor = predictionIdsFor(id);
  const expirationTime = Math.floor(Date.parse(scoredAt) / 1000) + TTL_SECONDS;
  return (scored) => {
    const { row } = scored;
    return {
      predictionId: predictionIdFor(row.lineNumber, row.requestId),
      timestamp: scoredAt,
      modelVersion: scored.modelVersion,
      invokedVariant: IN_PROCESS_VARIANT,
      prediction: scored.prediction,
      inputFeatures: row.features,
      expirationTime,
      source: 'batch',
      ...(row.requestId !== undefined ? { requestId: row.requestId } : {}),
      ...(scored.latencyMs !== undefined ? { modelLatencyMs: Math.round(scored.latencyMs * 10) / 10 } : {}),
    };
  };
}

interface ScoredRows {
  readonly scored: ScoredRow[];
  readonly rejected: MalformedLine[];
}

/**
 * Scores rows in this process: rows of the wrong width are rejected, and when the model rejects a
 * batch it is halved until the offending rows are isolated.
 */
async function scoreRows(
  model: ScoringModel,
  rows: readonly InputRow[],
  progress: RunProgress,
): Promise<ScoredRows> {
  if (rows.some((r) => r.features.length !== model.featureCount)) {
    const fitting = rows.filter((r) => r.features.length === model.featureCount);
    const scored =
      fitting.length > 0 ? await scoreRows(model, fitting, progress) : { scored: [], rejected: [] };
    const misfits = rows
      .filter((r) => r.features.length !== model.featureCount)
      .map((r) => ({
        lineNumber: r.lineNumber,
        reason: `rejected by the model: ${r.features.length} features; model ${model.version} takes ${model.featureCount}`,
      }));
    return { scored: scored.scored, rejected: [...scored.rejected, ...misfits] };
  }
  try {
    const started = performance.now();
    const predictions = await progress.timed('score', () => model.predict(rows.map((r) => r.features)));
    const latencyMs = performance.now() - started;
    if (predictions.length !== rows.length) {
      throw new Error(
        `model ${model.version} answered ${predictions.length} predictions for ${rows.length} rows`,
      );
    }
    return {
      scored: rows.map((row, i) => ({
        row,
        prediction: predictions[i],
        modelVersion: model.version,
        latencyMs,
      })),
      rejected: [],
    };
  } catch (error) {
    if (!(error instanceof InvalidModelInputError)) throw error;
    if (rows.length === 1) {
      return {
        scored: [],
        rejected: [{ lineNumber: rows[0].lineNumber, reason: `rejected by the model: ${error.message}` }],
      };
    }
    const middle = Math.ceil(rows.length / 2);
    const [left, right] = await Promise.all([
      scoreRows(model, rows.slice(0, middle), progress),
      scoreRows(model, rows.slice(middle), progress),
    ]);
    return { scored: [...left.scored, ...right.scored], rejected: [...left.rejected, ...right.rejected] };
  }
}

/** Splits `items` into consecutive groups of at most `size`. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const groups: T[][] = [];
  for (let i = 0; i < items.length; i += size) groups.push(items.slice(i, i + size));
  return groups;
}

/** Maps with at most `limit` calls in flight, keeping input order; rejects on the first failure. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let nextIndex = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && nextIndex < items.length) {
      const index = nextIndex++;
      try {
        results[index] = await fn(items[index]);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
