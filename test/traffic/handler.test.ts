import * as path from 'node:path';
import { LOCAL_TRAFFIC_CALLER } from '../../services/local/callers';
import { startLocalService, type LocalService } from '../../services/local/service';
import { modelArtifactDir } from '../../services/model/artifacts';
import { startCloudWatchStandIn, type CloudWatchStandIn } from '../support/aws-json-stand-ins';
import { useLocalAwsEnv } from '../support/local-aws';
import { FIXTURE_CANDIDATE, FIXTURE_LOCAL_SERVICE, FIXTURE_MODELS_DIR } from '../support/model-fixtures';

/**
 * The traffic source's Lambda handler, built from its environment as in the stage, against npm
 * start (signing with the local stand-in of its role) and a CloudWatch stand-in for `top-up`'s
 * organic count: its GetMetricData call is recorded and proven by test/iam.
 */
let service: LocalService;
let cloudwatch: CloudWatchStandIn;
let restoreEnv: () => void;

beforeAll(async () => {
  [service, cloudwatch] = await Promise.all([
    startLocalService({ port: 0, logLevel: 'SILENT', ...FIXTURE_LOCAL_SERVICE }),
    startCloudWatchStandIn(),
  ]);
  restoreEnv = useLocalAwsEnv({
    AWS_ACCESS_KEY_ID: LOCAL_TRAFFIC_CALLER.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_TRAFFIC_CALLER.secretAccessKey,
    AWS_ENDPOINT_URL_CLOUDWATCH: cloudwatch.url,
    API_URL: service.url,
    TRAFFIC_MODE: 'top-up',
    TRAFFIC_RATE: '20',
    TRAFFIC_FLOOR: '600',
    ENDPOINT_NAME: 'local-endpoint',
    VARIANT_NAMES: 'VariantA,VariantB',
    METRIC_NAMESPACE: 'MlInference',
    REQUEST_SET_FILE: path.join(modelArtifactDir(FIXTURE_CANDIDATE, FIXTURE_MODELS_DIR), 'requests.json'),
  });
});

afterAll(async () => {
  restoreEnv();
  await Promise.all([service.stop(), cloudwatch.close()]);
});

it('tops up one lease window to the floor when CloudWatch has no organic datapoint, all synthetic', async () => {
  const { handler } = await import('../../services/traffic/handler');
  const before = (await service.storedPredictions()).length;
  const started = performance.now();
  const report = await handler({ windowSeconds: 1, stepIndex: 0, executionId: 'local' });
  const elapsed = performance.now() - started;
  // 600/min floor, no organic datapoint, rate cap 20/s: 10 requests in a 1 s window.
  // (On a loaded machine the last request may miss the window: the bound wins, never more.)
  expect(report.sent).toBeGreaterThanOrEqual(8);
  expect(report.sent).toBeLessThanOrEqual(10);
  expect(report).toMatchObject({ succeeded: report.sent, failed: 0 });
  expect(['done', 'bound']).toContain(report.stoppedBy);
  expect(elapsed).toBeLessThan(4_000);
  const stored = await service.storedPredictions();
  expect(stored.length - before).toBe(report.sent);
  expect(stored.filter((item) => item.source === 'synthetic')).toHaveLength(report.sent);
  const query = cloudwatch.calls.find((c) => c.target === 'GetMetricData')!.input as {
    MetricDataQueries: { Id: string; Expression?: string }[];
  };
  expect(query.MetricDataQueries.find((q) => q.Id === 'organic')?.Expression).toBe(
    'MAX([0, FILL(v0, 0) + FILL(v1, 0) - FILL(synthetic, 0)])',
  );
});

it('never sends for longer than one window, whatever the lease asks', async () => {
  const { leaseWindowSeconds } = await import('../../services/traffic/handler');
  expect(leaseWindowSeconds({ windowSeconds: 3_600 })).toBe(60);
  expect(leaseWindowSeconds({ windowSeconds: 45 })).toBe(45);
  expect(leaseWindowSeconds({ windowSeconds: -5 })).toBe(0);
  expect(leaseWindowSeconds({ windowSeconds: Number.NaN })).toBe(0);
  expect(leaseWindowSeconds(undefined)).toBe(0);
});
