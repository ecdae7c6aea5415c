/** Settings of one scorer run, read from the environment once at start. */
export interface BatchConfig {
  /** Bucket holding `pending/`, `processed/`, `failed/` and `checkpoints/`. */
  readonly batchBucket: string;
  /** Bucket the Glue `predictions` table reads. */
  readonly analyticsBucket: string;
  /** Prefix of the Glue table location, always ending in `/`. */
  readonly analyticsPrefix: string;
  /** DynamoDB predictions table. */
  readonly tableName: string;
  /** `/<project>/<stage>/model`: the registry whose `active-version` the run scores with. */
  readonly modelParameterPrefix: string;
  /** Writable folder the model archive is unpacked into. */
  readonly modelDir: string;
  /** Shards the run's pending keys are split into (tasks of the array job). */
  readonly shardCount: number;
  /** The shard this task scores, 0 to `shardCount` - 1 (the array job's child index). */
  readonly shardIndex: number;
  /** Rows per model call. */
  readonly batchSize: number;
  /** Input objects of this shard handled per run; the rest waits for the next run. */
  readonly maxObjects: number;
  /** Larger input objects go to `failed/` unread. */
  readonly maxObjectBytes: number;
  /** Conditional puts (rows with a requestId) in flight per batch; rows without one go 25 per BatchWriteItem. */
  readonly writeConcurrency: number;
  /** Batches in flight at once, each scored and then written while the next ones are read and scored. */
  readonly scoreConcurrency: number;
  /** Seconds between progress lines in the log (rows scored, rate). */
  readonly progressIntervalSeconds: number;
}

/** Raised with every problem found in the environment, so one run shows them all. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid batch scorer configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Names and defaults of the environment variables, printed by `--help`. */
export const CONFIG_HELP = `Environment:
  BATCH_BUCKET        (required) bucket with pending/ input, processed/ and failed/
  ANALYTICS_BUCKET    (required) bucket of the Glue predictions table
  ANALYTICS_PREFIX    prefix of the Glue table location (default analytics/predictions/)
  TABLE_NAME          (required) DynamoDB predictions table
  MODEL_PARAMETER_PREFIX (required) model registry in Parameter Store, /<project>/<stage>/model: the
                      run scores with <prefix>/active-version, whose archive and SHA-256 are in
                      <prefix>/versions/<version>
  MODEL_DIR           writable folder the model archive is unpacked into (default /tmp/model)
  SHARD_COUNT         shards pending/ is split into, 1-10000 (default 1); each key belongs to one shard
                      by its SHA-256
  AWS_BATCH_JOB_ARRAY_INDEX  this task's shard, 0 to SHARD_COUNT - 1 (set by AWS Batch for each child
                      of an array job; default 0)
  BATCH_SIZE          rows per model call, 1-1000 (default 500)
  MAX_OBJECTS         input objects of this shard per run, >= 1 (default 100)
  MAX_OBJECT_BYTES    larger inputs go to failed/ (default and maximum 5368709120 = 5 GiB, the
                      largest object CopyObject moves; objects are streamed, memory does not grow
                      with their size)
  WRITE_CONCURRENCY   conditional puts of requestId rows in flight per batch, 1-256 (default 32);
                      rows without requestId go 25 per BatchWriteItem, all of a batch at once
  SCORE_CONCURRENCY   batches being scored or written at once while the next are read, 1-64
                      (default 8)
  PROGRESS_INTERVAL_SECONDS  seconds between progress log lines, 1-3600 (default 30)`;

/** CopyObject moves objects up to 5 GiB in one request; the scorer moves each input with it. */
const MAX_COPY_BYTES = 5 * 1024 * 1024 * 1024;
const S3_BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;
const PARAMETER_PREFIX = /^(\/[A-Za-z0-9_.-]+)+$/;
const MAX_SHARDS = 10_000;

/** Reads and validates the scorer's settings; throws {@link ConfigError} naming each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv): BatchConfig {
  const problems: string[] = [];

  const required = (name: string, pattern: RegExp, what: string): string => {
    const value = env[name]?.trim();
    if (!value) {
      problems.push(`${name} is required (${what})`);
      return '';
    }
    if (!pattern.test(value)) problems.push(`${name}="${value}" is not a valid ${what}`);
    return value;
  };

  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name]?.trim();
    if (!raw) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name}="${raw}" must be an integer from ${min} to ${max}`);
      return fallback;
    }
    return value;
  };

  const rawPrefix = env.ANALYTICS_PREFIX?.trim() || 'analytics/predictions/';
  if (rawPrefix.startsWith('/')) problems.push(`ANALYTICS_PREFIX="${rawPrefix}" must not start with "/"`);
  const analyticsPrefix = rawPrefix.endsWith('/') ? rawPrefix : `${rawPrefix}/`;

  const config: BatchConfig = {
    batchBucket: required('BATCH_BUCKET', S3_BUCKET_NAME, 'S3 bucket name'),
    analyticsBucket: required('ANALYTICS_BUCKET', S3_BUCKET_NAME, 'S3 bucket name'),
    analyticsPrefix,
    tableName: required('TABLE_NAME', TABLE_NAME, 'DynamoDB table name'),
    modelParameterPrefix: required('MODEL_PARAMETER_PREFIX', PARAMETER_PREFIX, 'Parameter Store path'),
    modelDir: env.MODEL_DIR?.trim() || '/tmp/model',
    shardCount: integer('SHARD_COUNT', 1, 1, MAX_SHARDS),
    shardIndex: integer('AWS_BATCH_JOB_ARRAY_INDEX', 0, 0, MAX_SHARDS - 1),
    batchSize: integer('BATCH_SIZE', 500, 1, 1000),
    maxObjects: integer('MAX_OBJECTS', 100, 1, 100_000),
    maxObjectBytes: integer('MAX_OBJECT_BYTES', MAX_COPY_BYTES, 1, MAX_COPY_BYTES),
    writeConcurrency: integer('WRITE_CONCURRENCY', 32, 1, 256),
    scoreConcurrency: integer('SCORE_CONCURRENCY', 8, 1, 64),
    progressIntervalSeconds: integer('PROGRESS_INTERVAL_SECONDS', 30, 1, 3600),
  };
  if (config.shardIndex >= config.shardCount) {
    problems.push(
      `AWS_BATCH_JOB_ARRAY_INDEX=${config.shardIndex} must be below SHARD_COUNT=${config.shardCount}`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
