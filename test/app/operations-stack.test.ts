import { DEV_ROLLOUT_TRAFFIC, PROD_ROLLOUT_TRAFFIC } from '../../services/traffic/config';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { MlInferenceStage } from '../../lib/stages/ml-inference-stage';
import { DATA_DRIFT_METRIC } from '../../services/drift/handler';
import { CANARY_ALARM_DEFAULTS } from '../../services/rollout/canary-alarms';
import { DATA_DRIFT_ALARM_THRESHOLD } from '../../services/drift/psi';
import { templateOnlyContext, testConfig } from '../support/cdk-app';

type Json = Record<string, unknown>;
interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Principal?: unknown;
}
interface AlarmMetric {
  Id: string;
  Expression?: string;
  MetricStat?: {
    Metric: { Namespace: string; MetricName: string; Dimensions: { Name: string; Value: unknown }[] };
    Stat: string;
    Period?: number;
  };
}

const PIPELINE_ACCOUNT = '999999999999';
const ALARM_EMAIL = 'ml-oncall@example.com';

let dev: MlInferenceStage;
let prod: MlInferenceStage;
let ops: Template;
let prodOps: Template;
let batch: Template;
let topicId: string;

beforeAll(() => {
  // Bundling is skipped: these tests read templates, not function code.
  const app = new App({ context: templateOnlyContext() });
  dev = new MlInferenceStage(app, 'Dev', {
    project: testConfig.project,
    config: { ...testConfig.dev, alarmEmail: ALARM_EMAIL },
    pipelineAccount: PIPELINE_ACCOUNT,
  });
  // As the pipeline builds prod: with prod's default traffic source.
  prod = new MlInferenceStage(app, 'Prod', {
    project: testConfig.project,
    config: testConfig.prod,
    defaultRolloutTraffic: PROD_ROLLOUT_TRAFFIC,
  });
  ops = Template.fromStack(dev.operationsStack);
  prodOps = Template.fromStack(prod.operationsStack);
  batch = Template.fromStack(dev.batchStack);
  topicId = Object.keys(ops.findResources('AWS::SNS::Topic'))[0];
});

const asList = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

function alarmsWhere(predicate: (alarm: Json) => boolean): Json[] {
  return Object.values(ops.findResources('AWS::CloudWatch::Alarm'))
    .map((a) => a.Properties as Json)
    .filter(predicate);
}

function oneAlarm(predicate: (alarm: Json) => boolean): Json {
  const found = alarmsWhere(predicate);
  expect(found).toHaveLength(1);
  return found[0];
}

const dimensionsOf = (dimensions: { Name: string; Value: unknown }[] = []): Record<string, unknown> =>
  Object.fromEntries(dimensions.map((d) => [d.Name, d.Value]));

const mathMetrics = (alarm: Json): AlarmMetric[] => (alarm.Metrics as AlarmMetric[] | undefined) ?? [];

interface Watched {
  readonly namespace: string;
  readonly name: string;
  readonly stat: string;
  readonly dimensions: Record<string, unknown>;
}

/** The metrics an alarm watches, whether rendered as one metric or as a `Metrics` list. */
function watched(alarm: Json): Watched[] {
  if (typeof alarm.MetricName === 'string') {
    return [
      {
        namespace: alarm.Namespace as string,
        name: alarm.MetricName,
        stat: (alarm.ExtendedStatistic ?? alarm.Statistic) as string,
        dimensions: dimensionsOf(alarm.Dimensions as never),
      },
    ];
  }
  return mathMetrics(alarm)
    .filter((m) => m.MetricStat)
    .map((m) => ({
      namespace: m.MetricStat!.Metric.Namespace,
      name: m.MetricStat!.Metric.MetricName,
      stat: m.MetricStat!.Stat,
      dimensions: dimensionsOf(m.MetricStat!.Metric.Dimensions),
    }));
}

const watches = (name: string) => (alarm: Json) => watched(alarm).some((w) => w.name === name);

describe('alert topic', () => {
  it("is encrypted with the stack's own rotated key and denies non-TLS publishing", () => {
    const topic = ops.findResources('AWS::SNS::Topic')[topicId];
    const keyId = (topic.Properties.KmsMasterKeyId as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0];
    expect(ops.findResources('AWS::KMS::Key')[keyId].Properties.EnableKeyRotation).toBe(true);
    ops.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topicId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('lets CloudWatch alarms use the key, so notifications to the encrypted topic are delivered', () => {
    const key = Object.values(ops.findResources('AWS::KMS::Key'))[0];
    const statements = (key.Properties.KeyPolicy as { Statement: Statement[] }).Statement;
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      }),
    );
  });

  it('subscribes the configured e-mail address, and nobody when none is configured', () => {
    ops.resourcePropertiesCountIs('AWS::SNS::Subscription', { Protocol: 'email' }, 1);
    ops.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: ALARM_EMAIL,
      TopicArn: { Ref: topicId },
    });
    prodOps.resourceCountIs('AWS::SNS::Subscription', 0);
  });
});

describe('alarms', () => {
  it('every alarm notifies the alert topic', () => {
    const alarms = alarmsWhere(() => true);
    // Seven stage alarms and the feedback quality alarm of each of the two served versions.
    expect(alarms).toHaveLength(9);
    for (const alarm of alarms) {
      expect(alarm.AlarmActions).toEqual([{ Ref: topicId }]);
    }
  });

  it('API latency: p99 of this API stage above 2 s', () => {
    const alarm = oneAlarm(watches('Latency'));
    expect(alarm).toMatchObject({ Threshold: 2000, ComparisonOperator: 'GreaterThanThreshold' });
    const [metric] = watched(alarm);
    expect(metric).toMatchObject({ namespace: 'AWS/ApiGateway', stat: 'p99' });
    expect(Object.keys(metric.dimensions).sort()).toEqual(['ApiName', 'Stage']);
    // The deployed stage of this stage's API (a reference to the Inference stack).
    expect(JSON.stringify(metric.dimensions.Stage)).toContain('Dev-Inference');
  });

  it('API error rate: 5XXError ÷ Count as metric math, above 5 %', () => {
    const alarm = oneAlarm((a) => mathMetrics(a).some((m) => m.MetricStat?.Metric.MetricName === '5XXError'));
    const metrics = mathMetrics(alarm);
    const byId = Object.fromEntries(metrics.filter((m) => m.MetricStat).map((m) => [m.Id, m.MetricStat!]));
    expect(metrics.find((m) => m.Expression)?.Expression).toBe('100 * errors / requests');
    expect(byId.errors).toMatchObject({
      Metric: { Namespace: 'AWS/ApiGateway', MetricName: '5XXError' },
      Stat: 'Sum',
    });
    expect(byId.requests).toMatchObject({
      Metric: { Namespace: 'AWS/ApiGateway', MetricName: 'Count' },
      Stat: 'Sum',
    });
    expect(alarm.Threshold).toBe(5);
  });

  it('data drift watches exactly the series the deployed drift job publishes', () => {
    const alarm = oneAlarm(watches(DATA_DRIFT_METRIC));
    const [metric] = watched(alarm);
    expect(alarm.Threshold).toBe(DATA_DRIFT_ALARM_THRESHOLD);
    expect(alarm.ComparisonOperator).toBe('GreaterThanThreshold');
    // The drift function of the same stage publishes to METRIC_NAMESPACE with Stage = STAGE_NAME.
    const driftFunctions = Object.values(batch.findResources('AWS::Lambda::Function')).filter((fn) =>
      JSON.stringify(fn.Properties.Environment ?? {}).includes('"POWERTOOLS_SERVICE_NAME":"drift"'),
    );
    expect(driftFunctions).toHaveLength(1);
    const env = (driftFunctions[0].Properties.Environment as { Variables: Record<string, unknown> })
      .Variables;
    expect(metric.namespace).toBe(env.METRIC_NAMESPACE);
    expect(metric.dimensions).toEqual({ Stage: env.STAGE_NAME });
    expect(env.STAGE_NAME).toBe(testConfig.dev.stageName);
  });

  it('canary error rate: VariantB 5xx ÷ Invocations as guarded metric math, the rule the benchmark models', () => {
    const alarm = oneAlarm((a) =>
      mathMetrics(a).some((m) => m.MetricStat?.Metric.MetricName === 'Invocation5XXErrors'),
    );
    const metrics = mathMetrics(alarm);
    // Minutes with fewer than minInvocations canary requests yield no datapoint (not breaching).
    expect(metrics.find((m) => m.Expression)?.Expression).toBe(
      `IF(invocations >= ${CANARY_ALARM_DEFAULTS.minInvocations}, 100 * errors / invocations)`,
    );
    const stats = metrics.filter((m) => m.MetricStat).map((m) => m.MetricStat!);
    expect(stats.map((s) => s.Metric.MetricName).sort()).toEqual(['Invocation5XXErrors', 'Invocations']);
    for (const stat of stats) {
      expect(stat.Metric.Namespace).toBe('AWS/SageMaker');
      expect(stat.Stat).toBe('Sum');
      expect(stat.Period).toBe(60);
      expect(dimensionsOf(stat.Metric.Dimensions).VariantName).toBe('VariantB');
      expect(Object.keys(dimensionsOf(stat.Metric.Dimensions)).sort()).toEqual([
        'EndpointName',
        'VariantName',
      ]);
    }
    // bench/canary.ts evaluates exactly this rule (services/rollout/canary-alarms.ts).
    expect(alarm).toMatchObject({
      Threshold: CANARY_ALARM_DEFAULTS.errorRatePercent,
      EvaluationPeriods: CANARY_ALARM_DEFAULTS.evaluationPeriods,
      DatapointsToAlarm: CANARY_ALARM_DEFAULTS.datapointsToAlarm,
      TreatMissingData: 'notBreaching',
    });
  });

  it('canary latency: VariantB p99 ModelLatency above 1 s (µs), guarded by its own minimum invocations', () => {
    const alarm = oneAlarm(watches('ModelLatency'));
    expect(alarm.Threshold).toBe(CANARY_ALARM_DEFAULTS.latencyP99Ms * 1000);
    const byName = Object.fromEntries(watched(alarm).map((w) => [w.name, w]));
    expect(byName.ModelLatency).toMatchObject({ namespace: 'AWS/SageMaker', stat: 'p99' });
    expect(byName.Invocations).toMatchObject({ namespace: 'AWS/SageMaker', stat: 'Sum' });
    expect(byName.ModelLatency.dimensions.VariantName).toBe('VariantB');
    expect(byName.Invocations.dimensions.VariantName).toBe('VariantB');
    const expression = mathMetrics(alarm).find((m) => m.Expression)?.Expression;
    expect(expression).toBe(`IF(invocations >= ${CANARY_ALARM_DEFAULTS.latencyMinInvocations}, latency)`);
    expect(alarm).toMatchObject({
      EvaluationPeriods: CANARY_ALARM_DEFAULTS.evaluationPeriods,
      DatapointsToAlarm: CANARY_ALARM_DEFAULTS.datapointsToAlarm,
      TreatMissingData: 'notBreaching',
    });
  });

  it("batch failures: any failed execution of this stage's batch workflow", () => {
    const alarm = oneAlarm(watches('ExecutionsFailed'));
    const [metric] = watched(alarm);
    expect(metric).toMatchObject({ namespace: 'AWS/States', stat: 'Sum' });
    expect(JSON.stringify(metric.dimensions.StateMachineArn)).toContain('Dev-Batch');
    expect(alarm).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
  });

  it('the canary alarms are exposed and are the ones the rollout judge is given', () => {
    const { canaryAlarms } = dev.operationsStack.monitoring;
    expect(canaryAlarms).toHaveLength(2);
    const stack = Stack.of(dev.operationsStack);
    const alarmIds = canaryAlarms.map((a) => (stack.resolve(a.alarmName) as { Ref: string }).Ref).sort();
    const machine = Object.values(ops.findResources('AWS::StepFunctions::StateMachine'))[0];
    const definition = JSON.stringify(machine.Properties.DefinitionString);
    for (const id of alarmIds) expect(definition).toContain(`{"Ref":"${id}"}`);
    // Both watch VariantB only.
    for (const id of alarmIds) {
      const alarm = ops.findResources('AWS::CloudWatch::Alarm')[id].Properties as Json;
      const text = JSON.stringify(alarm);
      expect(text).toContain('"VariantB"');
      expect(text).not.toContain('"VariantA"');
    }
  });
});

describe('rollout traffic source', () => {
  const fn = () => {
    const [id, resource] = Object.entries(ops.findResources('AWS::Lambda::Function')).find(([fid]) =>
      fid.startsWith('RolloutTrafficFunction'),
    )!;
    return { id, props: resource.Properties as Json };
  };
  const roleOf = (functionProps: Json): string =>
    (functionProps.Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0];

  it("has its own named role that may invoke only this API's POST /predict and read metrics", () => {
    const roleId = roleOf(fn().props);
    const role = ops.findResources('AWS::IAM::Role')[roleId].Properties as Json;
    expect(role.RoleName).toBe(`${testConfig.project}-dev-rollout-traffic`);
    expect(JSON.stringify(role.AssumeRolePolicyDocument)).toContain('lambda.amazonaws.com');
    const statements = Object.values(ops.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roleId }]))
      .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
    const invoke = statements.filter((s) => asList(s.Action).includes('execute-api:Invoke'));
    expect(invoke).toHaveLength(1);
    const resource = JSON.stringify(invoke[0].Resource);
    expect(resource).toMatch(/Dev-Inference/);
    // Stage, method and path fixed: only POST /predict.
    expect(resource).toMatch(/\/POST\/predict"\]\]\}$/);
    const actions = statements.flatMap((s) => asList(s.Action)).sort();
    expect(actions.filter((a) => !a.startsWith('xray:') && a !== 'sqs:SendMessage')).toEqual([
      'cloudwatch:GetMetricData',
      'cloudwatch:PutMetricData',
      'execute-api:Invoke',
    ]);
    // The labelled-answer counts go into the stage namespace only.
    const put = statements.find((s) => asList(s.Action).includes('cloudwatch:PutMetricData'))!;
    expect((put as { Condition?: unknown }).Condition).toEqual({
      StringEquals: { 'cloudwatch:namespace': 'MlInference' },
    });
  });

  it('gives the judge the stage namespace and the deployed versions’ labels to compare predictions on', () => {
    const definition = JSON.stringify(ops.findResources('AWS::StepFunctions::StateMachine'));
    // At least two classes: the deployed versions' labels, whatever they are.
    expect(definition).toMatch(
      /\\"quality\\":\{\\"namespace\\":\\"MlInference\\",\\"classes\\":\[\\"[^\\]+\\",\\"/,
    );
  });

  it('runs outside the VPC (it calls the public API as users do), capped, one window per invocation, never retried', () => {
    const { id, props } = fn();
    expect(props.VpcConfig).toBeUndefined();
    expect(props.ReservedConcurrentExecutions).toBe(2);
    expect(props.Timeout).toBe(90);
    const env = (props.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(env).toMatchObject({
      TRAFFIC_MODE: 'always',
      TRAFFIC_RATE: String(DEV_ROLLOUT_TRAFFIC.requestsPerSecond),
    });
    ops.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: id },
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 60,
    });
    // Prod tops up to its floor at a lower cap.
    const prodFn = Object.entries(prodOps.findResources('AWS::Lambda::Function')).find(([fid]) =>
      fid.startsWith('RolloutTrafficFunction'),
    )![1].Properties as Json;
    expect((prodFn.Environment as { Variables: Record<string, unknown> }).Variables).toMatchObject({
      TRAFFIC_MODE: 'top-up',
      TRAFFIC_RATE: String(PROD_ROLLOUT_TRAFFIC.requestsPerSecond),
      TRAFFIC_FLOOR: String(PROD_ROLLOUT_TRAFFIC.floorRequestsPerMinute),
    });
  });

  it('is invoked only by the rollout state machine, asynchronously', () => {
    const { id } = fn();
    const machine = Object.values(ops.findResources('AWS::StepFunctions::StateMachine'))[0];
    const definition = JSON.stringify(machine.Properties.DefinitionString);
    expect(definition).toContain('"InvocationType\\":\\"Event\\"');
    expect(definition).toContain(id);
    // No schedule or rule targets it: nothing else can start it.
    expect(JSON.stringify(ops.findResources('AWS::Events::Rule'))).not.toContain(id);
  });

  it('alarms when synthetic predictions arrive for ten minutes without a judge call', () => {
    const alarm = oneAlarm((a) =>
      mathMetrics(a).some((m) => m.MetricStat?.Metric.MetricName === 'SyntheticPredictions'),
    );
    expect(alarm).toMatchObject({ EvaluationPeriods: 2, DatapointsToAlarm: 2, Threshold: 1 });
    const metrics = mathMetrics(alarm);
    expect(metrics.find((m) => m.Expression)?.Expression).toBe(
      'IF(FILL(synthetic, 0) > 0 AND FILL(judged, 0) == 0, 1, 0)',
    );
    const judged = metrics.find((m) => m.Id === 'judged')!.MetricStat!;
    expect(judged.Metric).toMatchObject({ Namespace: 'AWS/Lambda', MetricName: 'Invocations' });
    expect(JSON.stringify(judged.Metric)).toMatch(/RolloutJudge/);
  });

  it('tells the predict function which callers are synthetic, by role ARN', () => {
    const inference = Template.fromStack(dev.inferenceStack);
    const predict = Object.entries(inference.findResources('AWS::Lambda::Function')).find(([fid]) =>
      fid.startsWith('Predict'),
    )![1].Properties as Json;
    const value = JSON.stringify(
      (predict.Environment as { Variables: Record<string, unknown> }).Variables.SYNTHETIC_CALLER_ROLE_ARNS,
    );
    expect(value).toContain(`:role/${testConfig.project}-dev-smoke-test,`);
    expect(value).toContain(`:role/${testConfig.project}-dev-rollout-traffic`);
  });
});

describe('dashboard', () => {
  /** DashboardBody with every CloudFormation token replaced by a placeholder, parsed. */
  function dashboardBody(): { widgets: { properties: Json }[] } {
    const dashboard = Object.values(ops.findResources('AWS::CloudWatch::Dashboard'))[0];
    const body = dashboard.Properties.DashboardBody as string | { 'Fn::Join': [string, unknown[]] };
    const text =
      typeof body === 'string'
        ? body
        : body['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : '<token>')).join('');
    return JSON.parse(text) as { widgets: { properties: Json }[] };
  }

  /** [namespace, metricName, dimensions] of every metric a widget plots (math expressions skipped). */
  function plottedMetrics(): [string, string, Record<string, string>][] {
    return dashboardBody().widgets.flatMap((w) =>
      ((w.properties.metrics as unknown[][] | undefined) ?? [])
        .filter((m) => typeof m[0] === 'string')
        .map((m) => {
          const parts = m.filter((p): p is string => typeof p === 'string');
          const dims: Record<string, string> = {};
          for (let i = 2; i + 1 < parts.length; i += 2) dims[parts[i]] = parts[i + 1];
          return [parts[0], parts[1], dims] as [string, string, Record<string, string>];
        }),
    );
  }

  const driftNamespace = (): string => watched(oneAlarm(watches(DATA_DRIFT_METRIC)))[0].namespace;

  it('plots only metrics these resources emit (no DynamoDB UserErrors standing in for predictions)', () => {
    const allowed: Record<string, string[]> = {
      'AWS/SageMaker': ['Invocations', 'Invocation4XXErrors', 'Invocation5XXErrors', 'ModelLatency'],
      'AWS/Lambda': ['Duration', 'Errors'],
      'AWS/ApiGateway': ['Count', '4XXError', '5XXError', 'Latency'],
      'AWS/Kinesis': ['GetRecords.IteratorAgeMilliseconds'],
      'AWS/SQS': ['ApproximateNumberOfMessagesVisible'],
      'AWS/States': ['ExecutionsFailed'],
      // The predict function's synthetic series and what the traffic source reports it sent.
      [driftNamespace()]: [
        DATA_DRIFT_METRIC,
        'SyntheticPredictions',
        'SyntheticRequestsSent',
        'SyntheticRequestsFailed',
      ],
    };
    const plotted = plottedMetrics();
    expect(plotted.length).toBeGreaterThan(10);
    for (const [namespace, name] of plotted) {
      expect({ namespace, name, allowed: allowed[namespace]?.includes(name) ?? false }).toEqual({
        namespace,
        name,
        allowed: true,
      });
    }
    expect(plotted.some(([ns, name]) => ns === 'AWS/DynamoDB' || name === 'UserErrors')).toBe(false);
  });

  it('covers per-variant endpoint metrics, the predict function, API, stream, DLQ, batch failures and drift', () => {
    const plotted = plottedMetrics();
    const has = (namespace: string, name: string, dims: Record<string, string> = {}): boolean =>
      plotted.some(
        ([ns, n, d]) => ns === namespace && n === name && Object.entries(dims).every(([k, v]) => d[k] === v),
      );
    for (const variant of ['VariantA', 'VariantB']) {
      for (const name of ['Invocations', 'Invocation5XXErrors', 'ModelLatency']) {
        expect({ variant, name, plotted: has('AWS/SageMaker', name, { VariantName: variant }) }).toEqual({
          variant,
          name,
          plotted: true,
        });
      }
    }
    for (const [ns, name] of [
      ['AWS/Lambda', 'Duration'],
      ['AWS/Lambda', 'Errors'],
      ['AWS/ApiGateway', '4XXError'],
      ['AWS/ApiGateway', '5XXError'],
      ['AWS/ApiGateway', 'Latency'],
      ['AWS/Kinesis', 'GetRecords.IteratorAgeMilliseconds'],
      ['AWS/SQS', 'ApproximateNumberOfMessagesVisible'],
      ['AWS/States', 'ExecutionsFailed'],
      [driftNamespace(), DATA_DRIFT_METRIC],
    ]) {
      expect({ ns, name, plotted: has(ns, name) }).toEqual({ ns, name, plotted: true });
    }
  });

  it('has its console URL as an output', () => {
    const url = JSON.stringify(ops.findOutputs('DashboardUrl').DashboardUrl.Value);
    expect(url).toContain('#dashboards:name=');
  });
});

describe('pipeline roles', () => {
  function role(logicalIdPrefix: string): { id: string; props: Json } {
    const [id, resource] = Object.entries(ops.findResources('AWS::IAM::Role')).find(([rid]) =>
      rid.startsWith(logicalIdPrefix),
    )!;
    return { id, props: resource.Properties as Json };
  }
  function statementsOf(roleId: string): Statement[] {
    return Object.values(ops.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roleId }]))
      .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
  }
  function trustedPrincipals(props: Json): string[] {
    const doc = props.AssumeRolePolicyDocument as { Statement: Statement[] };
    return doc.Statement.map((s) => JSON.stringify(s.Principal));
  }

  it('are trusted by the pipeline account only', () => {
    for (const prefix of ['SmokeTestRole', 'RolloutRole', 'RegistryReaderRole']) {
      const principals = trustedPrincipals(role(prefix).props);
      expect(principals).toHaveLength(1);
      expect(principals[0]).toContain(`:iam::${PIPELINE_ACCOUNT}:root`);
      expect(role(prefix).props.ManagedPolicyArns).toBeUndefined();
    }
  });

  it('smoke test role may only invoke this API and invoke this endpoint (each variant directly)', () => {
    const statements = statementsOf(role('SmokeTestRole').id);
    expect(statements.map((s) => s.Action).sort()).toEqual([
      'execute-api:Invoke',
      'sagemaker:InvokeEndpoint',
    ]);
    const api = statements.find((s) => s.Action === 'execute-api:Invoke')!;
    const resource = JSON.stringify(api.Resource);
    expect(resource).toContain(':execute-api:');
    // The API id comes from the Inference stack of this stage.
    expect(resource).toMatch(/Dev-Inference/);
    expect(resource).toMatch(/\/\*\/\*\/\*"\]\]\}$/);
    const endpoint = statements.find((s) => s.Action === 'sagemaker:InvokeEndpoint')!;
    // The endpoint's ARN (its Ref), read from this stage's Inference stack: no wildcard.
    expect(endpoint.Resource).toEqual({
      'Fn::GetStackOutput': expect.objectContaining({
        StackName: 'Dev-Inference',
        OutputName: expect.stringMatching(/^PublishOutputRefModelEndpoint/),
      }),
    });
  });

  it('rollout role may only start the rollout state machine and describe its executions', () => {
    const machineId = Object.keys(ops.findResources('AWS::StepFunctions::StateMachine'))[0];
    const statements = statementsOf(role('RolloutRole').id);
    expect(statements.map((s) => s.Action).sort()).toEqual([
      'states:DescribeExecution',
      'states:StartExecution',
    ]);
    const start = statements.find((s) => s.Action === 'states:StartExecution')!;
    expect(start.Resource).toEqual({ Ref: machineId });
    const describe = JSON.stringify(
      statements.find((s) => s.Action === 'states:DescribeExecution')!.Resource,
    );
    expect(describe).toContain(':execution:');
    expect(describe).toContain(machineId);
  });

  it("registry reader role may only read this stage's registry parameters, not prod's", () => {
    const statements = statementsOf(role('RegistryReaderRole').id);
    expect(statements).toHaveLength(1);
    expect(statements[0].Action).toBe('ssm:GetParameter');
    const prefix = `/${testConfig.project}/${testConfig.dev.stageName}/model`;
    const { account, region } = testConfig.dev.target;
    expect(dev.operationsStack.resolve(statements[0].Resource)).toEqual([
      `arn:aws:ssm:${region}:${account}:parameter${prefix}/active-version`,
      // The rollouts' records of rejected archives (services/registry/rejections.ts).
      `arn:aws:ssm:${region}:${account}:parameter${prefix}/rejected/*`,
      `arn:aws:ssm:${region}:${account}:parameter${prefix}/versions/*`,
    ]);
    // Every registry parameter the dev stage deploys is inside that grant; none of prod's is.
    const names = (template: Template) =>
      Object.values(template.findResources('AWS::SSM::Parameter')).map((p) => p.Properties.Name as string);
    const devNames = names(Template.fromStack(dev.inferenceStack));
    expect(devNames.length).toBeGreaterThanOrEqual(3);
    for (const name of devNames) expect(name.startsWith(`${prefix}/`)).toBe(true);
    for (const name of names(Template.fromStack(prod.inferenceStack)))
      expect(name.startsWith(`${prefix}/`)).toBe(false);
    expect(role('RegistryReaderRole').props.RoleName).toBe(
      `${testConfig.project}-${testConfig.dev.stageName}-registry-reader`,
    );
  });

  it('are outputs next to the rollout state machine', () => {
    for (const name of ['SmokeTestRoleArn', 'RolloutRoleArn', 'RolloutStateMachineArn']) {
      expect(Object.keys(ops.findOutputs(name))).toEqual([name]);
    }
    expect(asList(dev.pipelineOutputs.apiUrl.node.path)).toEqual(['Dev/Inference/ApiUrl']);
  });
});
