import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { SSMClient } from '@aws-sdk/client-ssm';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { createS3ArtifactReader, createSsmModelRegistry } from '../../services/batch/adapters/model-registry';
import { createS3ObjectStore } from '../../services/batch/adapters/object-store';
import { createDynamoPredictionsTable } from '../../services/batch/adapters/predictions-table';
import type { BatchConfig } from '../../services/batch/config';
import { loadActiveModel } from '../../services/batch/model-loader';
import { runScorer } from '../../services/batch/scorer';
import { unpackTarGz } from '../../services/model/archive';
import { createModelServer, type ModelServer } from '../../services/model/server';
import {
  createSageMakerRuntimeStandIn,
  type SageMakerRuntimeStandIn,
} from '../../services/local/sagemaker-runtime';
import { localCredentials, localRegion } from '../support/local-aws';
import { startLocalDynamo, startLocalS3, type LocalDynamo, type LocalS3 } from './support/local-aws';
import { startLocalSsm, registryParameters, type LocalSsm } from './support/local-ssm';
import { fixtureArchive, type FixtureArchive } from './support/model-fixture';

/**
 * A batch run while a canary rollout shifts traffic between two variants: the scorer, wired as
 * services/batch/main.ts wires it (registry in Parameter Store, archive in S3, input in S3, table in
 * DynamoDB), adds no invocation to the endpoint; only the rollout's own requests reach it.
 */
const PREFIX = '/ml/dev/model';
const ENDPOINT = 'rollout-endpoint';

let s3: LocalS3;
let dynamo: LocalDynamo;
let ssm: LocalSsm;
let standIn: SageMakerRuntimeStandIn;
let standInUrl: string;
let workDir: string;
const servers: ModelServer[] = [];
const baseline: FixtureArchive = fixtureArchive('v3.1.4', 'models', 'v3.1.4/model.tar.gz');
const candidate: FixtureArchive = fixtureArchive('v3.2.0', 'models', 'v3.2.0/model.tar.gz');

async function serve(fixture: FixtureArchive): Promise<string> {
  const dir = path.join(workDir, 'serve', fixture.artifact.version);
  await mkdir(dir, { recursive: true });
  for (const entry of unpackTarGz(fixture.archive)) await writeFile(path.join(dir, entry.name), entry.data);
  const server = createModelServer({ modelDir: dir, port: 0, host: '127.0.0.1' });
  servers.push(server);
  const port = await server.start();
  await server.loaded();
  return `http://127.0.0.1:${port}`;
}

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'rollout-isolation-'));
  [s3, dynamo, ssm] = await Promise.all([
    startLocalS3(['batch-input', 'analytics-data', 'models']),
    startLocalDynamo(),
    startLocalSsm(registryParameters(PREFIX, baseline.artifact)),
  ]);
  for (const fixture of [baseline, candidate]) {
    await s3.client.send(
      new PutObjectCommand({ Bucket: 'models', Key: fixture.artifact.key, Body: fixture.archive }),
    );
  }
  await dynamo.createPredictionsTable('predictions');
  standIn = createSageMakerRuntimeStandIn({
    endpointName: ENDPOINT,
    variants: [
      { name: 'VariantA', weight: 90, url: await serve(baseline) },
      { name: 'VariantB', weight: 10, url: await serve(candidate) },
    ],
  });
  standInUrl = await standIn.listen(0, '127.0.0.1');
}, 60_000);

afterAll(async () => {
  await Promise.all([
    s3?.close(),
    dynamo?.close(),
    ssm?.close(),
    standIn?.close(),
    ...servers.map((s) => s.stop()),
  ]);
  await rm(workDir, { recursive: true, force: true });
});

test('a batch run during a rollout adds zero invocations to the endpoint', async () => {
  const rows = 3000;
  const body = Array.from({ length: rows }, (_, i) =>
    JSON.stringify({ features: [i % 5, 1, 2, (i % 7) * 0.5] }),
  );
  await s3.client.send(
    new PutObjectCommand({ Bucket: 'batch-input', Key: 'pending/day.jsonl', Body: body.join('\n') }),
  );
  const runtime = new SageMakerRuntimeClient({
    endpoint: standInUrl,
    region: localRegion,
    credentials: localCredentials,
    requestHandler: new NodeHttpHandler(),
  });
  const registryClient = new SSMClient({
    endpoint: ssm.endpoint,
    region: localRegion,
    credentials: localCredentials,
  });

  // The rollout's traffic: requests at a steady pace until the batch run is over.
  let batchDone = false;
  let rolloutRequests = 0;
  const rollout = (async () => {
    while (!batchDone || rolloutRequests < 5) {
      await runtime.send(
        new InvokeEndpointCommand({
          EndpointName: ENDPOINT,
          ContentType: 'application/json',
          Body: JSON.stringify({ instances: [[1, 1, 1, 1]] }),
        }),
      );
      rolloutRequests++;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();

  const config: BatchConfig = {
    batchBucket: 'batch-input',
    analyticsBucket: 'analytics-data',
    analyticsPrefix: 'analytics/predictions/',
    tableName: 'predictions',
    modelParameterPrefix: PREFIX,
    modelDir: path.join(workDir, 'batch-model'),
    shardCount: 1,
    shardIndex: 0,
    batchSize: 100,
    maxObjects: 10,
    maxObjectBytes: 1 << 24,
    writeConcurrency: 8,
    scoreConcurrency: 4,
    progressIntervalSeconds: 60,
  };
  let summary;
  try {
    const { model } = await loadActiveModel(
      createSsmModelRegistry(registryClient, config.modelParameterPrefix),
      createS3ArtifactReader(s3.client),
      config.modelDir,
    );
    summary = await runScorer(config, {
      store: createS3ObjectStore(s3.client),
      table: createDynamoPredictionsTable(dynamo.client, config.tableName),
      model,
      log: { info: () => undefined, warn: () => undefined },
    });
  } finally {
    batchDone = true;
    await rollout;
    runtime.destroy();
    registryClient.destroy();
  }

  expect(summary.written).toBe(rows);
  expect(standIn.invocations).toHaveLength(rolloutRequests);
  expect(standIn.invocations.every((i) => i.body.includes('[[1,1,1,1]]'))).toBe(true);
  // The version the registry named active when the run started, on every prediction.
  const items = await dynamo.scanAll('predictions');
  expect(items).toHaveLength(rows);
  expect(new Set(items.map((i) => i.modelVersion))).toEqual(new Set(['v3.1.4']));
  expect(ssm.reads).toEqual([`${PREFIX}/active-version`, `${PREFIX}/versions/v3.1.4`]);
});
