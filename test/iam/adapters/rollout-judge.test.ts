import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CloudWatchRolloutMetrics } from '../../../services/rollout/adapters/cloudwatch';
import { createJudgeHandler } from '../../../services/rollout/judge-handler';
import { DEV_ROLLOUT_POLICY } from '../../../services/rollout/policy';
import { startCloudWatchStandIn, type CloudWatchStandIn } from '../../support/aws-json-stand-ins';
import { localCredentials, localRegion } from '../../support/local-aws';

/**
 * The rollout judge over its real CloudWatch adapter, so DescribeAlarms and GetMetricData are
 * recorded and proven against the judge's role by the IAM coverage test.
 */
let cloudwatch: CloudWatchStandIn;

beforeAll(async () => {
  cloudwatch = await startCloudWatchStandIn({ 'canary-5xx': 'OK', 'canary-latency': 'ALARM' });
});

afterAll(() => cloudwatch.close());

it('rolls back when a canary alarm is in ALARM, reading alarms and metrics from CloudWatch', async () => {
  const start = Date.UTC(2026, 10, 20, 12);
  const judge = createJudgeHandler({
    metrics: new CloudWatchRolloutMetrics(
      new CloudWatchClient({ endpoint: cloudwatch.url, region: localRegion, credentials: localCredentials }),
    ),
    log: { info: () => undefined },
    now: () => start + 10 * 60_000,
  });
  const output = await judge({
    endpointName: 'endpoint',
    baselineVariant: 'VariantA',
    canaryVariant: 'VariantB',
    canaryAlarmNames: ['canary-5xx', 'canary-latency'],
    stepIndex: 0,
    stepStartedAt: new Date(start).toISOString(),
    rolloutStartedAt: new Date(start).toISOString(),
    policy: DEV_ROLLOUT_POLICY,
  });
  expect(output.verdict).toBe('rollback');
  expect(output.weights).toEqual({ VariantA: 100, VariantB: 0 });
  // GetMetricData twice: the latency reference's hour before the rollout (empty here), then the minutes.
  expect(cloudwatch.calls.map((c) => c.target).sort()).toEqual([
    'DescribeAlarms',
    'GetMetricData',
    'GetMetricData',
  ]);
});
