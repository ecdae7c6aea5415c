import { Stack } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as glue from 'aws-cdk-lib/aws-glue';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import {
  partitionKeys,
  partitionProjection,
  predictionColumns,
  type GlueColumn,
} from '../../../services/batch/analytics-schema';
import { acknowledge, Finding } from '../../compliance';
import { ANALYTICS_PREFIX, FEEDBACK_PREFIX } from './batch-data-access';

/** Prefix of the data bucket that receives Athena query results (expired by the bucket's lifecycle). */
export const ATHENA_RESULTS_PREFIX = 'athena-results/';
/** Name of the Glue table; queries and the scorer's schema refer to it. */
export const PREDICTIONS_TABLE = 'predictions';
/** Name of the Glue table of ground truth callers sent. */
export const FEEDBACK_TABLE = 'feedback';

/** Columns of the Glue `feedback` table (services/analytics-export `FeedbackRecord`). */
export const feedbackColumns: readonly GlueColumn[] = [
  { name: 'predictionid', type: 'string', comment: 'predictionId (join with predictions)' },
  { name: 'timestamp', type: 'string', comment: 'ISO-8601 UTC time of the prediction' },
  { name: 'receivedat', type: 'string', comment: 'ISO-8601 UTC time the feedback arrived (the partition)' },
  { name: 'modelversion', type: 'string', comment: 'modelVersion that made the prediction' },
  { name: 'invokedvariant', type: 'string', comment: 'SageMaker production variant' },
  { name: 'source', type: 'string', comment: 'api (only API callers may send feedback)' },
  { name: 'predictedlabel', type: 'string', comment: 'prediction.label (classification)' },
  { name: 'predictedvalue', type: 'double', comment: 'prediction.value (regression)' },
  { name: 'truelabel', type: 'string', comment: 'the true label the caller sent' },
  { name: 'truevalue', type: 'double', comment: 'the true value the caller sent' },
];

/** The predicate every default (users') named query applies: synthetic predictions are not users'. */
export const USERS_ONLY = "source <> 'synthetic'";

/** Properties of {@link Analytics}. */
export interface AnalyticsProps {
  /** Bucket holding `analytics/predictions/` and `athena-results/`. */
  readonly dataBucket: s3.IBucket;
  /** Key of the data bucket; encrypts query results too. */
  readonly dataKey: kms.IKey;
  /**
   * Glue database name, namespaced by project and stage so two stages fit in one account (it is what
   * users type in queries). Lowercase letters, digits and underscores.
   */
  readonly databaseName: string;
  /** Athena workgroup name, namespaced by project and stage. */
  readonly workGroupName: string;
  /** A query scanning more than this many bytes is cancelled. @default 1 GiB */
  readonly bytesScannedCutoffPerQuery?: number;
}

const toGlue = (columns: readonly GlueColumn[]): glue.CfnTable.ColumnProperty[] =>
  columns.map(({ name, type, comment }) => ({ name, type, comment }));

/**
 * Querying predictions with Athena: a Glue database and the `predictions` table over the analytics
 * prefix, with the scorer's own column list and partition projection (no crawler); a workgroup that
 * enforces KMS-encrypted results and a per-query scan limit; named queries for day one.
 */
export class Analytics extends Construct {
  /** Glue database name. */
  readonly databaseName: string;
  /** Athena workgroup name. */
  readonly workGroupName: string;
  /** The Glue table. */
  readonly table: glue.CfnTable;
  /** The Glue `feedback` table. */
  readonly feedbackTable: glue.CfnTable;
  /** The workgroup. */
  readonly workGroup: athena.CfnWorkGroup;

  constructor(scope: Construct, id: string, props: AnalyticsProps) {
    super(scope, id);
    if (!/^[a-z0-9_]{1,255}$/.test(props.databaseName)) {
      throw new Error(
        `Analytics: databaseName '${props.databaseName}' must use only lowercase letters, digits and underscores (Athena-friendly)`,
      );
    }
    const catalogId = Stack.of(this).account;
    const bucket = props.dataBucket.bucketName;

    const database = new glue.CfnDatabase(this, 'Database', {
      catalogId,
      databaseInput: {
        name: props.databaseName,
        description: 'Predictions of the ML inference stage (API, stream and batch)',
      },
    });
    this.databaseName = props.databaseName;

    const location = `s3://${bucket}/${ANALYTICS_PREFIX}`;
    this.table = new glue.CfnTable(this, 'PredictionsTable', {
      catalogId,
      databaseName: props.databaseName,
      tableInput: {
        name: PREDICTIONS_TABLE,
        description: 'One row per prediction; JSON lines written by the batch scorer and the stream path',
        tableType: 'EXTERNAL_TABLE',
        parameters: {
          classification: 'json',
          EXTERNAL: 'TRUE',
          ...partitionProjection,
          'storage.location.template': `${location}dt=\${dt}/hour=\${hour}/`,
        },
        partitionKeys: toGlue(partitionKeys),
        storageDescriptor: {
          columns: toGlue(predictionColumns),
          location,
          inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          serdeInfo: {
            serializationLibrary: 'org.openx.data.jsonserde.JsonSerDe',
            // Lines keep the item's camelCase keys; the SerDe matches them case-insensitively.
            parameters: { 'ignore.malformed.json': 'true', 'case.insensitive': 'true' },
          },
        },
      },
    });
    this.table.addResourceDependency(database);

    // Ground truth callers sent (POST /predictions/{id}/feedback), joined to predictions on predictionId.
    const feedbackLocation = `s3://${bucket}/${FEEDBACK_PREFIX}`;
    this.feedbackTable = new glue.CfnTable(this, 'FeedbackTable', {
      catalogId,
      databaseName: props.databaseName,
      tableInput: {
        name: FEEDBACK_TABLE,
        description: 'One row per feedback: the true label or value of a prediction, partitioned by arrival',
        tableType: 'EXTERNAL_TABLE',
        parameters: {
          classification: 'json',
          EXTERNAL: 'TRUE',
          ...partitionProjection,
          'storage.location.template': `${feedbackLocation}dt=\${dt}/hour=\${hour}/`,
        },
        partitionKeys: toGlue(partitionKeys),
        storageDescriptor: {
          columns: toGlue(feedbackColumns),
          location: feedbackLocation,
          inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          serdeInfo: {
            serializationLibrary: 'org.openx.data.jsonserde.JsonSerDe',
            parameters: { 'ignore.malformed.json': 'true', 'case.insensitive': 'true' },
          },
        },
      },
    });
    this.feedbackTable.addResourceDependency(database);

    this.workGroupName = props.workGroupName;
    this.workGroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: props.workGroupName,
      description: 'Queries over the predictions table; results encrypted with the data key',
      state: 'ENABLED',
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: props.bytesScannedCutoffPerQuery ?? 1024 ** 3,
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        // ResultConfiguration (not ResultConfigurationUpdates, which CloudFormation only reads on update).
        resultConfiguration: {
          outputLocation: `s3://${bucket}/${ATHENA_RESULTS_PREFIX}`,
          encryptionConfiguration: { encryptionOption: 'SSE_KMS', kmsKey: props.dataKey.keyArn },
        },
      },
    });

    acknowledge(
      this.workGroup,
      [Finding.guard('athena_workgroup_results_encrypted_at_rest_kms_check')],
      "ResultConfiguration.EncryptionConfiguration is SSE_KMS with the stage's data key, enforced on every query; the rule cannot resolve a key ARN passed from the data stack as a cross-stack output (the batch stack test asserts the configuration).",
    );

    const table = `"${props.databaseName}"."${PREDICTIONS_TABLE}"`;
    // Users' queries leave out synthetic predictions (rollout traffic source, smoke test) by default.
    const lastDays = (days: number): string =>
      `dt >= date_format(current_date - interval '${days}' day, '%Y-%m-%d') AND ${USERS_ONLY}`;
    const allSourcesLastDays = (days: number): string =>
      `dt >= date_format(current_date - interval '${days}' day, '%Y-%m-%d')`;
    const queries: Record<string, [string, string]> = {
      PredictionVolume: [
        "Users' predictions per day, source, variant and model version (last 7 days)",
        `SELECT dt, source, invokedvariant, modelversion, count(*) AS predictions
FROM ${table}
WHERE ${lastDays(7)}
GROUP BY dt, source, invokedvariant, modelversion
ORDER BY dt DESC, predictions DESC`,
      ],
      HourlyVolume: [
        'Predictions per hour and variant (last 24 hours)',
        `SELECT dt, hour, invokedvariant, count(*) AS predictions
FROM ${table}
WHERE ${lastDays(1)}
GROUP BY dt, hour, invokedvariant
ORDER BY dt DESC, hour DESC`,
      ],
      ClassDistribution: [
        'Share of each predicted class per variant and model version (last 7 days)',
        `SELECT invokedvariant, modelversion, predictedlabel, count(*) AS predictions,
  round(100.0 * count(*) / sum(count(*)) OVER (PARTITION BY invokedvariant, modelversion), 2) AS percent
FROM ${table}
WHERE ${lastDays(7)} AND predictedlabel IS NOT NULL
GROUP BY invokedvariant, modelversion, predictedlabel
ORDER BY invokedvariant, modelversion, predictions DESC`,
      ],
      Confidence: [
        'Mean and p10 of the top class probability per variant and model version (last 7 days)',
        `SELECT invokedvariant, modelversion, count(*) AS predictions,
  avg(array_max(probabilities)) AS mean_confidence,
  approx_percentile(array_max(probabilities), 0.1) AS p10_confidence
FROM ${table}
WHERE ${lastDays(7)} AND probabilities IS NOT NULL
GROUP BY invokedvariant, modelversion`,
      ],
      ValueDistribution: [
        'Regressors: mean and deciles of the predicted value per variant and model version (last 7 days)',
        `SELECT invokedvariant, modelversion, count(*) AS predictions,
  avg(predictedvalue) AS mean_value,
  approx_percentile(predictedvalue, ARRAY[0.1, 0.5, 0.9]) AS p10_p50_p90
FROM ${table}
WHERE ${lastDays(7)} AND predictedvalue IS NOT NULL
GROUP BY invokedvariant, modelversion`,
      ],
      ModelLatency: [
        'Model-call latency (ms) per variant, model version and source (last 7 days)',
        `SELECT invokedvariant, modelversion, source, count(*) AS predictions,
  approx_percentile(modellatencyms, 0.5) AS p50_ms,
  approx_percentile(modellatencyms, 0.99) AS p99_ms
FROM ${table}
WHERE ${lastDays(7)} AND modellatencyms IS NOT NULL
GROUP BY invokedvariant, modelversion, source`,
      ],
      SyntheticTraffic: [
        'Synthetic predictions (rollout traffic source, smoke test) per hour, variant and model version (last 7 days)',
        `SELECT dt, hour, invokedvariant, modelversion, count(*) AS predictions,
  approx_percentile(modellatencyms, 0.99) AS p99_ms
FROM ${table}
WHERE ${allSourcesLastDays(7)} AND source = 'synthetic'
GROUP BY dt, hour, invokedvariant, modelversion
ORDER BY dt DESC, hour DESC`,
      ],
      DuplicatePredictions: [
        'Prediction ids written more than once, any source (should be empty: writes are idempotent)',
        `SELECT predictionid, count(*) AS copies
FROM ${table}
WHERE ${allSourcesLastDays(7)}
GROUP BY predictionid
HAVING count(*) > 1`,
      ],
    };
    for (const [queryId, [description, queryString]] of Object.entries(queries)) {
      const query = new athena.CfnNamedQuery(this, queryId, {
        name: queryId,
        description,
        database: props.databaseName,
        workGroup: this.workGroup.ref,
        queryString,
      });
      query.addResourceDependency(this.table);
    }
  }
}
