import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { loadDriftConfig, type DriftConfig } from './config';
import { featureDrift, type FeatureDrift } from './psi';
import { createModelCatalog, type ModelCatalog } from './adapters/model-catalog';
import { createTableRecentInputs, type RecentInputs } from './adapters/recent-inputs';
import { createCloudWatchPublisher, type DriftDatum, type MetricsPublisher } from './adapters/metrics';

/** Metric the drift alarm watches: max PSI over features. */
export const DATA_DRIFT_METRIC = 'DataDrift';

/** Structured log output; Powertools `Logger` satisfies it. */
export interface DriftLog {
  info(message: string, fields: Record<string, unknown>): void;
  warn(message: string, fields: Record<string, unknown>): void;
}

/** What the drift handler runs on. */
export interface DriftDeps {
  readonly config: DriftConfig;
  readonly catalog: ModelCatalog;
  readonly inputs: RecentInputs;
  readonly metrics: MetricsPublisher;
  readonly log: DriftLog;
  readonly now?: () => Date;
}

/** Outcome of one run, also the Lambda's return value. */
export type DriftResult =
  | {
      readonly status: 'published';
      readonly modelVersion: string;
      readonly samples: number;
      readonly maxPsi: number;
      readonly features: FeatureDrift[];
    }
  | {
      readonly status: 'insufficient-data';
      readonly modelVersion: string;
      readonly samples: number;
      readonly minSamples: number;
    };

/**
 * Builds the drift job: PSI per feature between the active version's recent inputs and its training
 * bins, published as `DataDrift` = max PSI with `Stage` + `ModelVersion` (and `Stage` alone, which an
 * alarm can watch across version changes), plus one `DataDrift` per feature with a `Feature` dimension.
 * With too few samples it publishes nothing, so a quiet hour never reads as "no drift".
 */
export function createDriftHandler(deps: DriftDeps): () => Promise<DriftResult> {
  const { config, log } = deps;
  return async () => {
    const now = (deps.now ?? (() => new Date()))();
    const modelVersion = await deps.catalog.activeVersion();
    const from = new Date(now.getTime() - config.windowHours * 3600_000).toISOString();
    const rows = await deps.inputs.features(modelVersion, from, now.toISOString(), config.maxSamples);
    if (rows.length < config.minSamples) {
      log.warn('too few recent inputs to measure drift; nothing published', {
        modelVersion,
        samples: rows.length,
        minSamples: config.minSamples,
        windowHours: config.windowHours,
      });
      return {
        status: 'insufficient-data',
        modelVersion,
        samples: rows.length,
        minSamples: config.minSamples,
      };
    }
    const features = featureDrift(await deps.catalog.featureStats(modelVersion), rows);
    const maxPsi = Math.max(...features.map((f) => f.psi));
    const base = { Stage: config.stage, ModelVersion: modelVersion };
    const data: DriftDatum[] = [
      { metricName: DATA_DRIFT_METRIC, value: maxPsi, dimensions: base, timestamp: now },
      { metricName: DATA_DRIFT_METRIC, value: maxPsi, dimensions: { Stage: config.stage }, timestamp: now },
      ...features.map((f) => ({
        metricName: DATA_DRIFT_METRIC,
        value: f.psi,
        dimensions: { ...base, Feature: f.feature },
        timestamp: now,
      })),
    ];
    await deps.metrics.publish(config.namespace, data);
    log.info('drift published', { modelVersion, samples: rows.length, maxPsi, features });
    return { status: 'published', modelVersion, samples: rows.length, maxPsi, features };
  };
}

let run: (() => Promise<DriftResult>) | undefined;

function defaultHandler(): () => Promise<DriftResult> {
  const config = loadDriftConfig(process.env);
  return createDriftHandler({
    config,
    catalog: createModelCatalog({
      parameters: new SSMProvider(),
      parameterPrefix: config.modelParameterPrefix,
    }),
    inputs: createTableRecentInputs(DynamoDBDocumentClient.from(new DynamoDBClient({})), config.tableName),
    metrics: createCloudWatchPublisher(new CloudWatchClient({})),
    log: new Logger({ serviceName: 'drift' }),
  });
}

/** Lambda entry for the EventBridge schedule; adapters are built on the first invocation and reused. */
export const handler = async (): Promise<DriftResult> => {
  run ??= defaultHandler();
  return run();
};
