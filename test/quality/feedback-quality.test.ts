import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { FeedbackQuality } from '../../lib/app/quality/feedback-quality';
import type { DriftDatum } from '../../services/drift/adapters/metrics';
import { loadModelMetadata } from '../../services/model/artifacts';
import { createTableLabelledPredictions } from '../../services/quality/adapters/labelled-predictions';
import { QUALITY_METRICS, versionQuality, wilsonUpper } from '../../services/quality/feedback-quality';
import { createQualityJob, loadQualityJobConfig } from '../../services/quality/handler';
import { tempOutdir } from '../support/cdk-app';
import { startPredictionsTable, type LocalPredictionsTable } from '../support/dynalite';
import { writeFixturePackage } from '../support/quality-models';

const NOW = new Date('2026-12-07T12:00:00Z');

describe('labelled prediction figures', () => {
  it('bounds accuracy from above (Wilson, one-sided 95 %)', () => {
    expect(wilsonUpper(90, 100)).toBeCloseTo(0.9393, 3);
    expect(wilsonUpper(10, 10)).toBe(1);
    expect(wilsonUpper(0, 10)).toBeGreaterThan(0.15);
  });

  it('counts classification and regression feedback, and nothing for none', () => {
    expect(versionQuality([])).toEqual({ task: 'none', count: 0 });
    const right = { prediction: { label: 'a' }, feedback: { label: 'a' } };
    const wrong = { prediction: { label: 'a' }, feedback: { label: 'b' } };
    expect(versionQuality([right, right, right, wrong])).toMatchObject({
      task: 'classification',
      count: 4,
      accuracy: 0.75,
    });
    const values = [1, 2, 3].map((v) => ({ prediction: { value: v }, feedback: { value: v + 0.5 } }));
    expect(versionQuality(values)).toMatchObject({ task: 'regression', count: 3, mae: 0.5, lower: 0.5 });
  });

  it('names every bad setting', () => {
    expect(() => loadQualityJobConfig({ QUALITY_WINDOW_HOURS: '0' })).toThrow(
      /QUALITY_WINDOW_HOURS="0".*STAGE_NAME is required/,
    );
  });
});

describe('feedback quality job and alarm', () => {
  let table: LocalPredictionsTable;
  let modelsDir: string;
  let published: DriftDatum[];
  let template: Template;

  const put = (i: number, version: string, label: string, truth: string | undefined, hoursAgo = 1) =>
    table.client.send(
      new PutCommand({
        TableName: table.tableName,
        Item: {
          predictionId: `${version}-${i}`,
          timestamp: new Date(NOW.getTime() - hoursAgo * 3_600_000).toISOString(),
          modelVersion: version,
          invokedVariant: version === 'v1.0.0' ? 'VariantA' : 'VariantB',
          prediction: { label, probabilities: [1, 0, 0] },
          inputFeatures: [0.1, 0.2],
          expirationTime: 0,
          source: 'api',
          caller: 'arn:aws:iam::000000000000:user/someone',
          ...(truth ? { feedback: { label: truth, receivedAt: NOW.toISOString() } } : {}),
        },
      }),
    );

  beforeAll(async () => {
    table = await startPredictionsTable();
    modelsDir = await mkdtemp(path.join(tmpdir(), 'quality-models-'));
    // Both versions were 100 % right offline (metadata.evaluation, measured on their splits).
    await writeFixturePackage(modelsDir, { version: 'v1.0.0' });
    await writeFixturePackage(modelsDir, { version: 'v1.1.0' });
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 200; i++) {
      writes.push(put(i, 'v1.0.0', 'alpha', 'alpha'));
      // The candidate: 170 of 200 labelled predictions right (85 %).
      writes.push(put(i, 'v1.1.0', 'alpha', i < 170 ? 'alpha' : 'beta'));
    }
    // Unlabelled, and labelled but outside the week's window: neither counts.
    for (let i = 200; i < 260; i++) writes.push(put(i, 'v1.1.0', 'alpha', undefined));
    for (let i = 260; i < 300; i++) writes.push(put(i, 'v1.1.0', 'alpha', 'alpha', 24 * 8));
    await Promise.all(writes);

    published = [];
    const job = createQualityJob({
      config: {
        stage: 'dev',
        namespace: 'MlInference',
        tableName: table.tableName,
        versions: ['v1.0.0', 'v1.1.0'],
        windowHours: 168,
      },
      labelled: createTableLabelledPredictions(table.client, table.tableName),
      metrics: { publish: async (_namespace, data) => void published.push(...data) },
      log: { info: () => undefined },
      now: () => NOW,
    });
    await job();

    const app = new App({ outdir: tempOutdir(), context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Quality', { env: { account: '123456789012', region: 'us-east-1' } });
    const vpc = new ec2.Vpc(stack, 'Vpc', {
      availabilityZones: ['us-east-1a', 'us-east-1b'],
      natGateways: 0,
      subnetConfiguration: [{ name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
    });
    const key = new kms.Key(stack, 'Key', { enableKeyRotation: true });
    new FeedbackQuality(stack, 'FeedbackQuality', {
      defaults: {
        vpc,
        subnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
        encryptionKey: key,
        logRetentionDays: logs.RetentionDays.ONE_MONTH,
        metricNamespace: 'MlInference',
      },
      stageName: 'dev',
      table: new dynamodb.Table(stack, 'Table', {
        partitionKey: { name: 'predictionId', type: dynamodb.AttributeType.STRING },
      }),
      dataKey: key,
      versions: ['v1.0.0', 'v1.1.0'].map((v) => loadModelMetadata(v, modelsDir)),
      alertTopic: new sns.Topic(stack, 'Alerts'),
      encryptionKey: key,
    });
    template = Template.fromStack(stack);
  }, 120_000);

  afterAll(async () => {
    await table.close();
    await rm(modelsDir, { recursive: true, force: true });
  });

  const value = (metricName: string, version: string) =>
    published.find((d) => d.metricName === metricName && d.dimensions.ModelVersion === version)?.value;

  it('publishes accuracy, its upper bound and the count of labelled predictions in the window per version', () => {
    expect(value(QUALITY_METRICS.count, 'v1.1.0')).toBe(200);
    expect(value(QUALITY_METRICS.accuracy, 'v1.1.0')).toBe(0.85);
    expect(value(QUALITY_METRICS.accuracyUpper, 'v1.1.0')).toBeCloseTo(wilsonUpper(170, 200), 10);
    expect(value(QUALITY_METRICS.accuracy, 'v1.0.0')).toBe(1);
    expect(published.every((d) => d.dimensions.Stage === 'dev')).toBe(true);
  });

  /** What CloudWatch would decide for the published datapoint of this version's alarm. */
  function alarmState(version: string): { state: 'ALARM' | 'OK'; topic: unknown } {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter((alarm) =>
      (alarm.Properties.Dimensions as { Name: string; Value: string }[]).some(
        (d) => d.Name === 'ModelVersion' && d.Value === version,
      ),
    );
    expect(alarms).toHaveLength(1);
    const { MetricName, Threshold, ComparisonOperator, Namespace, AlarmActions } = alarms[0].Properties;
    expect(Namespace).toBe('MlInference');
    const datum = value(MetricName as string, version);
    if (datum === undefined) throw new Error(`nothing published for ${MetricName as string} ${version}`);
    const breached = ComparisonOperator === 'LessThanThreshold' ? datum < Threshold : datum > Threshold;
    return { state: breached ? 'ALARM' : 'OK', topic: AlarmActions };
  }

  it("fires the candidate's alarm when its labelled predictions fall below the offline figure by more than the margin", () => {
    const { state, topic } = alarmState('v1.1.0');
    expect(state).toBe('ALARM');
    const [topicId] = Object.keys(template.findResources('AWS::SNS::Topic'));
    expect(topic).toEqual([{ Ref: topicId }]);
  });

  it("keeps the baseline's alarm quiet when it matches its offline figure", () => {
    expect(alarmState('v1.0.0').state).toBe('OK');
  });

  it('lets the job query only the index and publish only to its namespace', () => {
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (policy) =>
        policy.Properties.PolicyDocument.Statement as {
          Action: string | string[];
          Resource: unknown;
          Condition?: unknown;
        }[],
    );
    const query = statements.find((s) => s.Action === 'dynamodb:Query');
    expect(JSON.stringify(query?.Resource)).toContain('/index/modelVersionIndex');
    const put = statements.find((s) => s.Action === 'cloudwatch:PutMetricData');
    expect(put?.Condition).toEqual({ StringEquals: { 'cloudwatch:namespace': 'MlInference' } });
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 hour)' });
  });
});
