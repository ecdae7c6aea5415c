import type { BatchConfig } from './config';
import { toAnalyticsRecord } from './analytics-schema';
import { InvalidModelInputError, type ModelEndpoint, type ModelPrediction } from './adapters/model-endpoint';
import type { ObjectInfo, ObjectStore } from './adapters/object-store';
import type { PredictionItem, PredictionsTable } from './adapters/predictions-table';
import { parseJsonLines, type InputRow, type MalformedLine } from './input';
import {
  BATCH_PREFIXES,
  analyticsKeyFor,
  checkpointKeyFor,
  destinationKeyFor,
  predictionIdFor,
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
  readonly endpoint: ModelEndpoint;
  readonly log: ProgressLog;
  readonly now?: () => Date;
}

/** Why an input object went to `failed/`. */
export type FailureCode = 'TooLarge' | 'EmptyInput' | 'NoValidLines';

/** Per-object report, logged and returned. */
export interface ObjectSummary {
  readonly key: string;
  readonly outcome: 'processed' | 'failed';
  /** Non-blank lines in the object. */
  readonly lines: number;
  /** Predictions written to the table by this run. */
  readonly written: number;
  /** Predictions a crashed earlier run had already written for this object, kept as they were. */
  readonly recovered: number;
  /** Lines whose predictionId another input (or an earlier line) already holds. */
  readonly duplicates: number;
  /** Lines skipped: bad JSON or shape, or rejected by the model. */
  readonly malformed: number;
  /** The first few malformed lines, for the log and the error report. */
  readonly malformedSample: readonly MalformedLine[];
  readonly analyticsKey?: string;
  /** True when an earlier run had finished the outputs and only the move was left. */
  readonly resumed?: boolean;
  readonly failure?: { readonly code: FailureCode; readonly message: string };
}

/** Totals of one run. */
export interface RunSummary {
  readonly objects: ObjectSummary[];
  readonly processed: number;
  readonly failed: number;
  readonly written: number;
  readonly malformed: number;
}

const TTL_SECONDS = 30 * 24 * 3600;
const MALFORMED_SAMPLE = 10;
const PROGRESS_EVERY_ROWS = 10_000;

interface Checkpoint {
  readonly inputKey: string;
  readonly etag: string;
  readonly scoredAt: string;
}

interface ScoredRow {
  readonly row: InputRow;
  readonly prediction: ModelPrediction;
  readonly modelVersion: string;
  readonly variant: string;
  readonly latencyMs?: number;
}

/** Scores up to `maxObjects` objects under `pending/`, one after another; throws on anything but bad input. */
export async function runScorer(config: BatchConfig, deps: ScorerDeps): Promise<RunSummary> {
  const inputs = await deps.store.list(config.batchBucket, BATCH_PREFIXES.pending, config.maxObjects);
  deps.log.info('run started', { pendingObjects: inputs.length, bucket: config.batchBucket });
  const objects: ObjectSummary[] = [];
  for (const input of inputs) objects.push(await scoreObject(config, deps, input));
  const summary: RunSummary = {
    objects,
    processed: objects.filter((o) => o.outcome === 'processed').length,
    failed: objects.filter((o) => o.outcome === 'failed').length,
    written: objects.reduce((sum, o) => sum + o.written, 0),
    malformed: objects.reduce((sum, o) => sum + o.malformed, 0),
  };
  deps.log.info('run finished', {
    processed: summary.processed,
    failed: summary.failed,
    written: summary.written,
    malformed: summary.malformed,
  });
  return summary;
}

/**
 * Scores one input object version and moves it out of `pending/`. Outputs are named after the object's
 * key and etag and the table writes are conditional, and the move comes last, so a crash at any point
 * leaves a state that the next run completes without losing or duplicating a prediction.
 */
export async function scoreObject(
  config: BatchConfig,
  deps: ScorerDeps,
  input: ObjectInfo,
): Promise<ObjectSummary> {
  const { store, log } = deps;
  const id: InputObjectId = { key: input.key, etag: input.etag };
  log.info('object started', { key: input.key, bytes: input.size });

  if (input.size > config.maxObjectBytes) {
    return fail(config, deps, input, emptyCounts(0), {
      code: 'TooLarge',
      message: `object is ${input.size} bytes, over the ${config.maxObjectBytes}-byte limit (MAX_OBJECT_BYTES)`,
    });
  }

  const checkpoint = await loadOrCreateCheckpoint(config, deps, id);
  const analyticsKey = analyticsKeyFor(config.analyticsPrefix, id, checkpoint.scoredAt);
  if (await store.exists(config.analyticsBucket, analyticsKey)) {
    const summary: ObjectSummary = {
      ...emptyCounts(0),
      key: input.key,
      outcome: 'processed',
      analyticsKey,
      resumed: true,
    };
    await finish(config, deps, id, 'processed');
    log.info('object processed', { ...summary });
    return summary;
  }

  const parsed = parseJsonLines(await store.getText(config.batchBucket, input.key));
  const malformed = [...parsed.malformed];
  if (parsed.rows.length === 0) {
    return fail(
      config,
      deps,
      input,
      {
        ...emptyCounts(parsed.lineCount),
        malformed: malformed.length,
        malformedSample: malformed.slice(0, MALFORMED_SAMPLE),
      },
      parsed.lineCount === 0
        ? { code: 'EmptyInput', message: 'object has no lines' }
        : {
            code: 'NoValidLines',
            message: `none of the ${parsed.lineCount} lines is a valid {"features": number[]} JSON object`,
          },
    );
  }

  // Serialized at once: 100k strings weigh far less than 100k record objects.
  const records: string[] = [];
  const seen = new Set<string>();
  let written = 0;
  let recovered = 0;
  let duplicates = 0;
  let done = 0;
  let nextProgress = PROGRESS_EVERY_ROWS;

  const chunks = chunk(parsed.rows, config.batchSize);
  const scoreChunk = (index: number): Promise<ScoredRows> | undefined => {
    if (index >= chunks.length) return undefined;
    const promise = scoreRows(deps.endpoint, chunks[index]);
    promise.catch(() => undefined);
    return promise;
  };

  // Score the next chunk while the current one is written: the two round trips overlap.
  let next = scoreChunk(0);
  for (let index = 0; next; index++) {
    const { scored, rejected } = await next;
    next = scoreChunk(index + 1);
    malformed.push(...rejected);
    const fresh = scored.filter((s) => {
      const predictionId = predictionIdFor(id, s.row.lineNumber, s.row.requestId);
      if (seen.has(predictionId)) {
        duplicates++;
        return false;
      }
      seen.add(predictionId);
      return true;
    });
    const outcomes = await mapLimit(fresh, config.writeConcurrency, async (s) => {
      const item = toItem(id, s, checkpoint.scoredAt);
      return { item, outcome: await deps.table.putIfAbsent(item) };
    });
    for (const { item, outcome } of outcomes) {
      if (outcome.status === 'created') {
        written++;
        records.push(JSON.stringify(toAnalyticsRecord(item)));
      } else if (isOwnEarlierWrite(outcome.existing, checkpoint)) {
        recovered++;
        records.push(JSON.stringify(toAnalyticsRecord(outcome.existing)));
      } else {
        duplicates++;
      }
    }
    done += chunks[index].length;
    if (done >= nextProgress) {
      log.info('object progress', { key: input.key, rowsDone: done, rows: parsed.rows.length });
      nextProgress += PROGRESS_EVERY_ROWS;
    }
  }

  const counts = {
    lines: parsed.lineCount,
    written,
    recovered,
    duplicates,
    malformed: malformed.length,
    malformedSample: malformed.slice(0, MALFORMED_SAMPLE),
  };
  if (written + recovered + duplicates === 0) {
    return fail(config, deps, input, counts, {
      code: 'NoValidLines',
      message: `the model rejected all ${parsed.rows.length} well-formed lines`,
    });
  }
  if (records.length > 0) {
    const body = records.join('\n') + '\n';
    await store.putText(config.analyticsBucket, analyticsKey, body, 'application/x-ndjson');
  }
  await finish(config, deps, id, 'processed');
  const summary: ObjectSummary = {
    ...counts,
    key: input.key,
    outcome: 'processed',
    analyticsKey: records.length > 0 ? analyticsKey : undefined,
  };
  log.info('object processed', { ...summary });
  return summary;
}

type Counts = Pick<
  ObjectSummary,
  'lines' | 'written' | 'recovered' | 'duplicates' | 'malformed' | 'malformedSample'
>;

const emptyCounts = (lines: number): Counts => ({
  lines,
  written: 0,
  recovered: 0,
  duplicates: 0,
  malformed: 0,
  malformedSample: [],
});

async function fail(
  config: BatchConfig,
  deps: ScorerDeps,
  input: ObjectInfo,
  counts: Counts,
  failure: NonNullable<ObjectSummary['failure']>,
): Promise<ObjectSummary> {
  const summary: ObjectSummary = { ...counts, key: input.key, outcome: 'failed', failure };
  const report = { inputKey: input.key, etag: input.etag, bytes: input.size, ...failure, ...counts };
  const failedKey = destinationKeyFor(input.key, 'failed');
  await deps.store.putText(
    config.batchBucket,
    `${failedKey}.error.json`,
    JSON.stringify(report, null, 2),
    'application/json',
  );
  await finish(config, deps, input, 'failed');
  deps.log.warn('object failed', { ...summary });
  return summary;
}

async function finish(
  config: BatchConfig,
  deps: ScorerDeps,
  id: InputObjectId,
  outcome: 'processed' | 'failed',
): Promise<void> {
  await deps.store.copy(config.batchBucket, id.key, destinationKeyFor(id.key, outcome));
  await deps.store.delete(config.batchBucket, id.key);
  await deps.store.delete(config.batchBucket, checkpointKeyFor(id));
}

async function loadOrCreateCheckpoint(
  config: BatchConfig,
  deps: ScorerDeps,
  id: InputObjectId,
): Promise<Checkpoint> {
  const key = checkpointKeyFor(id);
  const stored = await deps.store.getTextIfExists(config.batchBucket, key);
  if (stored !== undefined) {
    const checkpoint = JSON.parse(stored) as Checkpoint;
    deps.log.info('object resumed from checkpoint', { key: id.key, scoredAt: checkpoint.scoredAt });
    return checkpoint;
  }
  const checkpoint: Checkpoint = {
    inputKey: id.key,
    etag: id.etag,
    scoredAt: (deps.now ?? (() => new Date()))().toISOString(),
  };
  await deps.store.putText(config.batchBucket, key, JSON.stringify(checkpoint), 'application/json');
  return checkpoint;
}

/** An item this object's earlier, crashed run wrote: same pinned timestamp, batch source. */
const isOwnEarlierWrite = (existing: PredictionItem, checkpoint: Checkpoint): boolean =>
  existing.source === 'batch' && existing.timestamp === checkpoint.scoredAt;

function toItem(id: InputObjectId, scored: ScoredRow, scoredAt: string): PredictionItem {
  const { row } = scored;
  return {
    predictionId: predictionIdFor(id, row.lineNumber, row.requestId),
    timestamp: scoredAt,
    modelVersion: scored.modelVersion,
    invokedVariant: scored.variant,
    prediction: { label: scored.prediction.label, probabilities: scored.prediction.probabilities },
    inputFeatures: row.features,
    expirationTime: Math.floor(Date.parse(scoredAt) / 1000) + TTL_SECONDS,
    source: 'batch',
    ...(row.requestId !== undefined ? { requestId: row.requestId } : {}),
    ...(scored.latencyMs !== undefined ? { modelLatencyMs: Math.round(scored.latencyMs * 10) / 10 } : {}),
  };
}

interface ScoredRows {
  readonly scored: ScoredRow[];
  readonly rejected: MalformedLine[];
}

/** Scores rows; when the model rejects a batch, halves it until the offending rows are isolated. */
async function scoreRows(endpoint: ModelEndpoint, rows: readonly InputRow[]): Promise<ScoredRows> {
  try {
    const batch = await endpoint.score(rows.map((r) => r.features));
    return {
      scored: rows.map((row, i) => ({
        row,
        prediction: batch.predictions[i],
        modelVersion: batch.modelVersion,
        variant: batch.variant,
        latencyMs: batch.latencyMs,
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
      scoreRows(endpoint, rows.slice(0, middle)),
      scoreRows(endpoint, rows.slice(middle)),
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
