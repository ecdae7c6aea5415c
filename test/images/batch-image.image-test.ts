import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { MlInferenceStage } from '../../lib/stages/ml-inference-stage';
import { imageTag } from '../../scripts/images';
import {
  createSageMakerRuntimeStandIn,
  type SageMakerRuntimeStandIn,
} from '../../services/local/sagemaker-runtime';
import { startLocalDynamo, startLocalS3, type LocalDynamo, type LocalS3 } from '../batch/support/local-aws';
import { registryParameters, startLocalSsm, type LocalSsm } from '../batch/support/local-ssm';
import { fixtureArchive, fixtureLabel } from '../batch/support/model-fixture';
import { templateOnlyContext, tempOutdir, testConfig } from '../support/cdk-app';
import { Containers, engineWithImage } from './support/containers';

/**
 * The batch scorer image run as AWS Batch on Fargate runs it: the job definition's command,
 * environment, read-only root file system and task-storage volume from the synthesized template,
 * against s3rver, dynalite and a Parameter Store stand-in holding the registry. The model is loaded
 * from its archive in S3 into the scorer's own process (ONNX Runtime in the image): no model server
 * container runs, and a SageMaker-runtime stand-in the job could reach counts zero invocations.
 */
interface JobContainer {
  Command: string[];
  Environment: { Name: string; Value: unknown }[];
  ReadonlyRootFilesystem?: boolean;
  MountPoints?: { ContainerPath: string; SourceVolume: string }[];
}

const engine = engineWithImage('batch');
const containers = new Containers(engine);
const fixture = fixtureArchive('v4.0.2', 'model-artifacts', 'assets/fixture.tar.gz');

let job: JobContainer;
let s3: LocalS3;
let dynamo: LocalDynamo;
let ssm: LocalSsm;
let standIn: SageMakerRuntimeStandIn;
let standInUrl: string;

const local = {
  BATCH_BUCKET: 'batch-input',
  ANALYTICS_BUCKET: 'analytics-data',
  TABLE_NAME: 'predictions',
};

beforeAll(async () => {
  const app = new App({ outdir: tempOutdir(), context: templateOnlyContext() });
  const stage = new MlInferenceStage(app, 'Dev', { project: testConfig.project, config: testConfig.dev });
  const [definition] = Object.values(
    Template.fromStack(stage.batchStack).findResources('AWS::Batch::JobDefinition'),
  ) as { Properties: { ContainerProperties: JobContainer } }[];
  job = definition.Properties.ContainerProperties;
  const prefix = job.Environment.find((e) => e.Name === 'MODEL_PARAMETER_PREFIX')?.Value;
  if (typeof prefix !== 'string') throw new Error('the job definition names no MODEL_PARAMETER_PREFIX');

  [s3, dynamo, ssm] = await Promise.all([
    startLocalS3([local.BATCH_BUCKET, local.ANALYTICS_BUCKET, fixture.artifact.bucket]),
    startLocalDynamo(),
    startLocalSsm(registryParameters(prefix, fixture.artifact)),
  ]);
  await s3.client.send(
    new PutObjectCommand({
      Bucket: fixture.artifact.bucket,
      Key: fixture.artifact.key,
      Body: fixture.archive,
    }),
  );
  await dynamo.createPredictionsTable(local.TABLE_NAME);
  // Nothing listens behind it: the job must never call it.
  standIn = createSageMakerRuntimeStandIn({
    variants: [{ name: 'VariantA', weight: 1, url: 'http://127.0.0.1:9' }],
  });
  standInUrl = await standIn.listen(0, '127.0.0.1');
}, 180_000);

afterAll(async () => {
  containers.removeAll();
  await Promise.all([s3?.close(), dynamo?.close(), ssm?.close(), standIn?.close()]);
});

/**
 * The job definition's environment with each resource reference (a CloudFormation intrinsic) replaced by
 * its local stand-in and every literal value kept; a reference this test does not know fails it.
 */
function jobEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { Name, Value } of job.Environment) {
    if (typeof Value === 'string') env[Name] = Value;
    else if (Name in local) env[Name] = local[Name as keyof typeof local];
    else
      throw new Error(
        `job environment ${Name} references ${JSON.stringify(Value)}: give it a local stand-in`,
      );
  }
  return env;
}

describe('batch scorer image', () => {
  it('scores a JSON-lines input in process end to end: table items, analytics lines, input moved to processed/', async () => {
    const rows = Array.from({ length: 30 }, (_, i) => ({
      features: [i % 6, 1.5, 2, (i % 4) * 1.25],
      requestId: `image-test-${i}`,
    }));
    await s3.client.send(
      new PutObjectCommand({
        Bucket: local.BATCH_BUCKET,
        Key: 'pending/2026-12-01/input.jsonl',
        Body: rows.map((row) => JSON.stringify(row)).join('\n') + '\n',
      }),
    );
    const sdkLocal = {
      // What Fargate's task role and the VPC endpoints provide in AWS.
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_ENDPOINT_URL_SSM: ssm.endpoint,
      AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME: standInUrl,
      S3_FORCE_PATH_STYLE: 'true',
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    };
    const env: Record<string, string> = { ...jobEnvironment(), ...sdkLocal };
    const started = performance.now();
    const name = containers.start(imageTag('batch'), {
      args: [
        ...(job.ReadonlyRootFilesystem ? ['--read-only'] : []),
        // The job's volumes as Fargate makes them: fresh task storage that starts with the image's
        // content and ownership at that path (the Dockerfile's VOLUME, owned by the non-root user).
        ...(job.MountPoints ?? []).flatMap((m) => ['--mount', `type=volume,destination=${m.ContainerPath}`]),
        ...Object.entries(env).flatMap(([key, value]) => ['--env', `${key}=${value}`]),
      ],
      command: job.Command,
    });
    const code = await containers.wait(name, 120_000);
    const seconds = (performance.now() - started) / 1000;
    if (code !== 0) throw new Error(`scorer exited ${code}:\n${containers.logs(name)}`);

    const items = await dynamo.scanAll(local.TABLE_NAME);
    expect(items).toHaveLength(rows.length);
    const byRequest = new Map(items.map((item) => [item.requestId, item]));
    rows.forEach((row, i) => {
      const item = byRequest.get(row.requestId) as {
        source: string;
        modelVersion: string;
        prediction: { label: string };
      };
      expect(item).toMatchObject({ source: 'batch', modelVersion: 'v4.0.2' });
      expect(item.prediction.label).toBe(fixtureLabel(rows[i]!.features.reduce((a, b) => a + b, 0)));
    });

    const analyticsKeys = await s3.keys(local.ANALYTICS_BUCKET, env.ANALYTICS_PREFIX);
    const lines = (
      await Promise.all(
        analyticsKeys.map(async (key) => {
          const { Body } = await s3.client.send(
            new GetObjectCommand({ Bucket: local.ANALYTICS_BUCKET, Key: key }),
          );
          return (await Body!.transformToString()).split('\n').filter(Boolean);
        }),
      )
    ).flat();
    expect(lines).toHaveLength(rows.length);

    expect(await s3.keys(local.BATCH_BUCKET, 'pending/')).toEqual([]);
    expect(await s3.keys(local.BATCH_BUCKET, 'processed/')).toContain('processed/2026-12-01/input.jsonl');
    expect(standIn.invocations).toHaveLength(0);
    expect(ssm.reads).toEqual([
      `${env.MODEL_PARAMETER_PREFIX}/active-version`,
      `${env.MODEL_PARAMETER_PREFIX}/versions/v4.0.2`,
    ]);
    process.stdout.write(
      `batch image ${imageTag('batch')}: scored ${rows.length} rows in ${seconds.toFixed(1)} s (docker run to exit)\n`,
    );
  });
});
