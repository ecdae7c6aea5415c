import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { SSMClient } from '@aws-sdk/client-ssm';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { createCloudWatchPublisher } from '../../../services/drift/adapters/metrics';
import { createModelCatalog } from '../../../services/drift/adapters/model-catalog';
import { createTableRecentInputs } from '../../../services/drift/adapters/recent-inputs';
import { createDriftHandler, DATA_DRIFT_METRIC } from '../../../services/drift/handler';
import { FIXTURE_BASELINE, FIXTURE_MODELS_DIR } from '../../support/model-fixtures';
import { loadModelMetadata } from '../../../services/model/artifacts';
import { startLocalDynamo, type LocalDynamo } from '../../batch/support/local-aws';
import { sampleRows } from '../../drift/support/synthetic';
import {
  startCloudWatchStandIn,
  startSsmStandIn,
  type CloudWatchStandIn,
  type SsmStandIn,
} from '../../support/aws-json-stand-ins';
import { localCredentials, localRegion } from '../../support/local-aws';

/**
 * The drift job end to end over its real adapters (Parameter Store, the table's model-version
 * index, CloudWatch), so the calls it makes in production are recorded and proven by the IAM and
 * network coverage tests.
 */
const PREFIX = '/ml/dev/model';
const NOW = new Date('2026-11-20T12:00:00.000Z');
const { featureStats } = loadModelMetadata(FIXTURE_BASELINE, FIXTURE_MODELS_DIR);

let dynamo: LocalDynamo;
let ssm: SsmStandIn;
let cloudwatch: CloudWatchStandIn;

beforeAll(async () => {
  dynamo = await startLocalDynamo();
  await dynamo.createPredictionsTable('predictions');
  const rows = sampleRows(featureStats, 200, 7);
  for (const [i, features] of rows.entries()) {
    await dynamo.client.send(
      new PutCommand({
        TableName: 'predictions',
        Item: {
          predictionId: `p-${i}`,
          modelVersion: 'v1.0.0',
          timestamp: new Date(NOW.getTime() - (i + 1) * 60_000).toISOString(),
          inputFeatures: features,
        },
      }),
    );
  }
  ssm = await startSsmStandIn({
    [`${PREFIX}/active-version`]: 'v1.0.0',
    [`${PREFIX}/versions/v1.0.0`]: JSON.stringify({ version: 'v1.0.0', featureStats }),
  });
  cloudwatch = await startCloudWatchStandIn();
});

afterAll(async () => {
  await Promise.all([dynamo.close(), ssm.close(), cloudwatch.close()]);
});

it('reads the registry and recent inputs, and publishes DataDrift to its namespace', async () => {
  const run = createDriftHandler({
    config: {
      stage: 'dev',
      namespace: 'MlInference',
      tableName: 'predictions',
      modelParameterPrefix: PREFIX,
      windowHours: 24,
      minSamples: 100,
      maxSamples: 5000,
    },
    now: () => NOW,
    log: { info: () => undefined, warn: () => undefined },
    catalog: createModelCatalog({
      parameters: new SSMProvider({
        awsSdkV3Client: new SSMClient({
          endpoint: ssm.url,
          region: localRegion,
          credentials: localCredentials,
        }),
      }),
      parameterPrefix: PREFIX,
    }),
    inputs: createTableRecentInputs(dynamo.client, 'predictions'),
    metrics: createCloudWatchPublisher(
      new CloudWatchClient({ endpoint: cloudwatch.url, region: localRegion, credentials: localCredentials }),
    ),
  });
  const result = await run();
  expect(result).toMatchObject({ status: 'published', modelVersion: 'v1.0.0', samples: 200 });
  const [published] = cloudwatch.putMetricData();
  expect(published.Namespace).toBe('MlInference');
  expect(JSON.stringify(published.MetricData)).toContain(DATA_DRIFT_METRIC);
});
