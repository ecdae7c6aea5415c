import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import { createCloudWatchPublisher, type DriftDatum, type MetricsPublisher } from '../drift/adapters/metrics';
import { createTableLabelledPredictions, type LabelledPredictions } from './adapters/labelled-predictions';
import { QUALITY_METRICS, versionQuality, type VersionQuality } from './feedback-quality';

/** Settings of the job, read once at cold start. */
export interface QualityJobConfig {
  /** Stage name, the `Stage` dimension. */
  readonly stage: string;
  readonly namespace: string;
  readonly tableName: string;
  /** The versions the stage serves (baseline and candidate). */
  readonly versions: readonly string[];
  /** How far back a prediction's time may lie for its feedback to count. */
  readonly windowHours: number;
}

/** Reads the job's settings; the error names every bad variable. */
export function loadQualityJobConfig(env: NodeJS.ProcessEnv): QualityJobConfig {
  const problems: string[] = [];
  const required = (name: string): string => {
    const value = env[name]?.trim();
    if (!value) problems.push(`${name} is required`);
    return value ?? '';
  };
  const windowHours = Number(env.QUALITY_WINDOW_HOURS ?? 168);
  if (!Number.isInteger(windowHours) || windowHours < 1 || windowHours > 24 * 30) {
    problems.push(`QUALITY_WINDOW_HOURS="${env.QUALITY_WINDOW_HOURS}" must be an integer from 1 to 720`);
  }
  const config = {
    stage: required('STAGE_NAME'),
    namespace: required('METRIC_NAMESPACE'),
    tableName: required('TABLE_NAME'),
    versions: [
      ...new Set(
        required('MODEL_VERSIONS')
          .split(',')
          .map((v) => v.trim())
          .filter(Boolean),
      ),
    ],
    windowHours,
  };
  if (problems.length > 0)
    throw new Error(`Invalid feedback quality job configuration: ${problems.join('; ')}`);
  return config;
}

/** What the job runs on. */
export interface QualityJobDeps {
  readonly config: QualityJobConfig;
  readonly labelled: LabelledPredictions;
  readonly metrics: MetricsPublisher;
  readonly log: { info(message: string, fields: Record<string, unknown>): void };
  readonly now?: () => Date;
}

/** One run's figures per version, also the Lambda's return value. */
export type QualityJobResult = Readonly<Record<string, VersionQuality>>;

/**
 * Builds the job: for each served version, accuracy (or MAE) over its labelled predictions of the
 * window, with the one-sided bound the alarm watches, and the count. A version without labelled
 * predictions publishes a count of 0 and nothing else, so silence never reads as "fine" or "broken".
 */
export function createQualityJob(deps: QualityJobDeps): () => Promise<QualityJobResult> {
  const { config } = deps;
  return async () => {
    const now = (deps.now ?? (() => new Date()))();
    const from = new Date(now.getTime() - config.windowHours * 3_600_000).toISOString();
    const result: Record<string, VersionQuality> = {};
    const data: DriftDatum[] = [];
    for (const version of config.versions) {
      const quality = versionQuality(await deps.labelled.of(version, from, now.toISOString()));
      result[version] = quality;
      const dimensions = { Stage: config.stage, ModelVersion: version };
      const datum = (metricName: string, value: number) =>
        data.push({ metricName, value, dimensions, timestamp: now });
      datum(QUALITY_METRICS.count, quality.count);
      if (quality.task === 'classification') {
        datum(QUALITY_METRICS.accuracy, quality.accuracy);
        datum(QUALITY_METRICS.accuracyUpper, quality.upper);
      } else if (quality.task === 'regression') {
        datum(QUALITY_METRICS.mae, quality.mae);
        if (quality.lower !== undefined) datum(QUALITY_METRICS.maeLower, quality.lower);
      }
    }
    await deps.metrics.publish(config.namespace, data);
    deps.log.info('labelled prediction quality published', {
      windowHours: config.windowHours,
      versions: result,
    });
    return result;
  };
}

let run: (() => Promise<QualityJobResult>) | undefined;

/** Lambda entry for the EventBridge schedule; adapters are built on the first invocation and reused. */
export const handler = async (): Promise<QualityJobResult> => {
  if (!run) {
    const config = loadQualityJobConfig(process.env);
    run = createQualityJob({
      config,
      labelled: createTableLabelledPredictions(
        DynamoDBDocumentClient.from(new DynamoDBClient({})),
        config.tableName,
      ),
      metrics: createCloudWatchPublisher(new CloudWatchClient({})),
      log: new Logger({ serviceName: 'feedback-quality' }),
    });
  }
  return run();
};
