import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { USERS_ONLY } from '../../lib/app/batch/analytics';
import { SCORER_COMMAND } from '../../lib/app/batch/batch-scoring';
import { MODEL_VERSION_INDEX } from '../../lib/app/data/data-store';
import { MlInferenceStage } from '../../lib/stages/ml-inference-stage';
import { partitionKeys, partitionProjection, predictionColumns } from '../../services/batch/analytics-schema';
import { DATA_DRIFT_METRIC } from '../../services/drift/handler';
import { DATA_DRIFT_ALARM_THRESHOLD } from '../../services/drift/psi';
import { templateOnlyContext, tempOutdir, testConfig } from '../support/cdk-app';

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, string>>;
}
type Resource = { Type: string; Properties: Record<string, unknown> };

const asList = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

let stage: MlInferenceStage;
let batch: Template;
let data: Template;

beforeAll(() => {
  // Skip esbuild: these tests read templates, not bundles.
  const app = new App({
    outdir: tempOutdir(),
    context: templateOnlyContext(),
  });
  stage = new MlInferenceStage(app, 'Dev', { project: testConfig.project, config: testConfig.dev });
  batch = Template.fromStack(stage.batchStack);
  data = Template.fromStack(stage.dataStack);
});

function only(template: Template, type: string): Resource {
  const found = Object.values(template.findResources(type)) as Resource[];
  expect(found).toHaveLength(1);
  return found[0];
}

/** Allow statements of the policies (inline and managed) of a role, across both templates. */
function statementsOfRole(roleLogicalId: string): Statement[] {
  const role = batch.findResources('AWS::IAM::Role')[roleLogicalId] as Resource;
  const inline = Object.values(batch.findResources('AWS::IAM::Policy')).filter((p) =>
    JSON.stringify(p.Properties.Roles).includes(`"${roleLogicalId}"`),
  );
  const managedIds = JSON.stringify(role.Properties.ManagedPolicyArns ?? []);
  const managed = Object.entries(data.findResources('AWS::IAM::ManagedPolicy'))
    .filter(([id]) => managedIds.includes(id))
    .map(([, p]) => p);
  expect(managed.length + inline.length).toBeGreaterThan(0);
  return [...inline, ...managed]
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
    .filter((s) => s.Effect === 'Allow');
}

describe('batch scoring on AWS Batch', () => {
  it('runs the scorer with an explicit command on Fargate, sized from config', () => {
    const job = only(batch, 'AWS::Batch::JobDefinition');
    expect(job.Properties.PlatformCapabilities).toEqual(['FARGATE']);
    const container = job.Properties.ContainerProperties as Record<string, unknown>;
    expect(container.Command).toEqual(SCORER_COMMAND);
    // The image's CMD is the same line, so `docker run` gets the same heap settings as the job.
    const cmd = readFileSync(join(__dirname, '..', '..', 'services', 'batch', 'Dockerfile'), 'utf8').match(
      /^CMD (\[.*\])$/m,
    );
    expect(JSON.parse(cmd![1]!)).toEqual(container.Command);
    expect(container.ResourceRequirements).toEqual(
      expect.arrayContaining([
        { Type: 'VCPU', Value: '1' },
        { Type: 'MEMORY', Value: '2048' },
      ]),
    );
    expect(container.NetworkConfiguration).toEqual({ AssignPublicIp: 'DISABLED' });
    const env = Object.fromEntries(
      (container.Environment as { Name: string; Value: unknown }[]).map((e) => [e.Name, e.Value]),
    );
    for (const name of ['BATCH_BUCKET', 'ANALYTICS_BUCKET', 'TABLE_NAME']) {
      expect(env[name]).toBeDefined();
    }
    expect(env.MODEL_PARAMETER_PREFIX).toBe(`/${testConfig.project}/${testConfig.dev.stageName}/model`);
    expect(env).not.toHaveProperty('ENDPOINT_NAME');
    // The one writable path of the read-only task: a task-storage volume (a name, no host path).
    expect(container.ReadonlyRootFilesystem).toBe(true);
    expect(container.Volumes).toEqual([{ Name: 'model' }]);
    expect(container.MountPoints).toEqual([{ ContainerPath: env.MODEL_DIR, SourceVolume: 'model' }]);
    expect(env.ANALYTICS_PREFIX).toBe('analytics/predictions/');
    expect(job.Properties.RetryStrategy).toMatchObject({ Attempts: 2 });
  });

  it('uses a Fargate compute environment in the isolated subnets, HTTPS out only', () => {
    const env = only(batch, 'AWS::Batch::ComputeEnvironment');
    const resources = env.Properties.ComputeResources as { Type: string; Subnets: unknown[] };
    expect(resources.Type).toBe('FARGATE');
    const isolated = stage.networkStack.network.vpc.isolatedSubnets;
    expect(resources.Subnets).toHaveLength(isolated.length);
    expect(JSON.stringify(resources.Subnets)).toMatch(/isolated/i);
    batch.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: 'Batch scorer tasks: HTTPS out only',
      SecurityGroupEgress: [Match.objectLike({ IpProtocol: 'tcp', FromPort: 443, ToPort: 443 })],
    });
  });

  it('has every endpoint a Fargate task in an isolated subnet needs (ECR api/dkr, Logs, S3)', () => {
    const network = Template.fromStack(stage.networkStack);
    const services = JSON.stringify(
      Object.values(network.findResources('AWS::EC2::VPCEndpoint')).map((e) => e.Properties.ServiceName),
    );
    // ssm: the scorer reads the model registry at the start of each run.
    for (const service of ['ecr.api', 'ecr.dkr', 'logs', '.s3', '.ssm"']) expect(services).toContain(service);
  });

  it('scopes the job role to its prefixes, the table, the data key, the registry and the model archives', () => {
    const job = only(batch, 'AWS::Batch::JobDefinition');
    const roleId = (job.Properties.ContainerProperties as { JobRoleArn: { 'Fn::GetAtt': [string, string] } })
      .JobRoleArn['Fn::GetAtt'][0];
    const statements = statementsOfRole(roleId);
    for (const s of statements) expect(asList(s.Resource)).not.toContain('*');
    const objectResources = statements
      .filter((s) => asList(s.Action).some((a) => /^s3:(Get|Put|Delete)Object$/.test(a)))
      .flatMap((s) => asList(s.Resource).map((r) => JSON.stringify(r)));
    const prefixes = objectResources
      .filter((r) => !r.includes('.tar.gz'))
      .map((r) => /\/([a-z/-]+)\/\*"/.exec(r)?.[1])
      .sort();
    expect(prefixes).toEqual(['analytics/predictions', 'checkpoints', 'failed', 'pending', 'processed']);
    // Batch never calls the real-time endpoint: no SageMaker action at all.
    expect(statements.flatMap((s) => asList(s.Action)).filter((a) => a.startsWith('sagemaker:'))).toEqual([]);
    // Reads exactly the model archives the endpoint serves (each one object), and the registry by name.
    const archives = statements.filter((s) => JSON.stringify(s.Resource).includes('.tar.gz'));
    expect(archives).toHaveLength(1);
    expect(asList(archives[0].Action)).toEqual(['s3:GetObject']);
    expect(new Set(asList(archives[0].Resource).map((r) => JSON.stringify(r)))).toEqual(
      new Set(
        [...stage.inferenceStack.endpoint.archives.values()].map((a) =>
          JSON.stringify(stage.batchStack.resolve(a.objectArn)),
        ),
      ),
    );
    const registry = statements.filter((s) => asList(s.Action).includes('ssm:GetParameter'));
    expect(registry).toHaveLength(1);
    expect(asList(registry[0].Action)).toEqual(['ssm:GetParameter']);
    // The parameters by reference (active-version and one per deployed version), no path wildcard.
    const parameters = asList(registry[0].Resource).map((r) => JSON.stringify(r));
    expect(parameters).toHaveLength(3);
    expect(parameters.join()).toContain('ModelRegistryActiveVersion');
    expect(parameters.filter((p) => /ModelRegistryVersionv\d/.test(p))).toHaveLength(2);
    expect(parameters.join()).not.toContain('*');
    const writes = statements.filter((s) => asList(s.Action).includes('dynamodb:PutItem'));
    expect(writes).toHaveLength(1);
    // Single items for requestId rows (conditional put, then a read on conflict); batches for the rest.
    expect(asList(writes[0].Action).sort()).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:BatchWriteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
    ]);
  });

  it('starts the workflow every 6 hours', () => {
    const machines = Object.keys(batch.findResources('AWS::StepFunctions::StateMachine'));
    expect(machines).toHaveLength(1);
    batch.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(6 hours)',
      Targets: [Match.objectLike({ Arn: { Ref: machines[0] } })],
    });
  });
});

describe('analytics', () => {
  it("builds the Glue table from the scorer's schema, with partition projection and the JSON SerDe", () => {
    const table = Object.values(batch.findResources('AWS::Glue::Table')).find(
      (t) => (t.Properties.TableInput as { Name: string }).Name === 'predictions',
    ) as Resource;
    const input = table.Properties.TableInput as {
      Name: string;
      PartitionKeys: unknown[];
      Parameters: Record<string, string>;
      StorageDescriptor: {
        Columns: unknown[];
        Location: unknown;
        SerdeInfo: { SerializationLibrary: string };
      };
    };
    expect(input.Name).toBe('predictions');
    const asCfn = (columns: typeof predictionColumns): unknown[] =>
      columns.map((c) => ({ Name: c.name, Type: c.type, Comment: c.comment }));
    expect(input.StorageDescriptor.Columns).toEqual(asCfn(predictionColumns));
    expect(input.PartitionKeys).toEqual(asCfn(partitionKeys));
    expect(input.Parameters).toMatchObject(partitionProjection);
    expect(JSON.stringify(input.Parameters['storage.location.template'])).toContain(
      'analytics/predictions/dt=${dt}/hour=${hour}/',
    );
    expect(JSON.stringify(input.StorageDescriptor.Location)).toContain('analytics/predictions/');
    expect(input.StorageDescriptor.SerdeInfo.SerializationLibrary).toBe('org.openx.data.jsonserde.JsonSerDe');
    expect(batch.findResources('AWS::Glue::Crawler')).toEqual({});
  });

  it('enforces KMS-encrypted results on ResultConfiguration (the property CloudFormation reads) and a scan limit', () => {
    const workGroup = only(batch, 'AWS::Athena::WorkGroup');
    const config = workGroup.Properties.WorkGroupConfiguration as Record<string, unknown>;
    expect(config.EnforceWorkGroupConfiguration).toBe(true);
    expect(config.BytesScannedCutoffPerQuery).toBe(1024 ** 3);
    expect(config.PublishCloudWatchMetricsEnabled).toBe(true);
    expect(config.ResultConfigurationUpdates).toBeUndefined();
    const result = config.ResultConfiguration as {
      OutputLocation: unknown;
      EncryptionConfiguration: { EncryptionOption: string; KmsKey: unknown };
    };
    expect(result.EncryptionConfiguration.EncryptionOption).toBe('SSE_KMS');
    expect(result.EncryptionConfiguration.KmsKey).toBeDefined();
    expect(JSON.stringify(result.OutputLocation)).toContain('athena-results/');
  });

  it('ships named queries in the workgroup', () => {
    const queries = Object.values(batch.findResources('AWS::Athena::NamedQuery')) as Resource[];
    expect(queries.map((q) => q.Properties.Name).sort()).toEqual([
      'ClassDistribution',
      'Confidence',
      'DuplicatePredictions',
      'HourlyVolume',
      'ModelLatency',
      'PredictionVolume',
      'SyntheticTraffic',
      'ValueDistribution',
    ]);
  });

  it('reads each task from its own columns: classes from classifiers, values from regressors', () => {
    const sql = (name: string) =>
      (Object.values(batch.findResources('AWS::Athena::NamedQuery')) as Resource[]).find(
        (q) => q.Properties.Name === name,
      )!.Properties.QueryString as string;
    expect(sql('ClassDistribution')).toContain('AND predictedlabel IS NOT NULL');
    expect(sql('Confidence')).toContain('AND probabilities IS NOT NULL');
    expect(sql('ValueDistribution')).toMatch(
      /approx_percentile\(predictedvalue, .*AND predictedvalue IS NOT NULL/s,
    );
  });

  it("leaves synthetic predictions out of every users' query, and shows them only in their own", () => {
    const queries = Object.fromEntries(
      (Object.values(batch.findResources('AWS::Athena::NamedQuery')) as Resource[]).map((q) => [
        q.Properties.Name as string,
        q.Properties.QueryString as string,
      ]),
    );
    // The WHERE clause (no OR at its top level, so the predicate cannot be bypassed) of each query.
    const where = (sql: string): string => /\nWHERE (.*)\n/.exec(sql)?.[1] ?? '';
    for (const name of [
      'PredictionVolume',
      'HourlyVolume',
      'ClassDistribution',
      'Confidence',
      'ModelLatency',
      'ValueDistribution',
    ]) {
      const clause = where(queries[name]!);
      expect({ name, clause }).toEqual({ name, clause: expect.stringContaining(`AND ${USERS_ONLY}`) });
      expect(clause).not.toMatch(/\bOR\b/i);
    }
    expect(where(queries.SyntheticTraffic!)).toMatch(/AND source = 'synthetic'$/);
    // Integrity checks look at every source.
    expect(queries.DuplicatePredictions).not.toContain('synthetic');
  });
});

describe('drift job', () => {
  const driftFunction = (): [string, Resource] => {
    const found = Object.entries(batch.findResources('AWS::Lambda::Function')).filter(([, fn]) =>
      JSON.stringify(fn.Properties.Environment ?? {}).includes('"POWERTOOLS_SERVICE_NAME":"drift"'),
    );
    expect(found).toHaveLength(1);
    return found[0] as [string, Resource];
  };

  it('runs hourly in the VPC', () => {
    const [id, fn] = driftFunction();
    expect(fn.Properties.VpcConfig).toBeDefined();
    batch.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 hour)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [id, 'Arn'] } })],
    });
  });

  it('publishes only to its namespace, queries only the model-version index, and exports what it publishes', () => {
    const [, fn] = driftFunction();
    const env = (fn.Properties.Environment as { Variables: Record<string, string> }).Variables;
    const roleId = (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const statements = statementsOfRole(roleId);
    const put = statements.filter((s) => asList(s.Action).includes('cloudwatch:PutMetricData'));
    expect(put).toHaveLength(1);
    expect(put[0].Condition).toEqual({ StringEquals: { 'cloudwatch:namespace': env.METRIC_NAMESPACE } });
    const query = statements.filter((s) => asList(s.Action).includes('dynamodb:Query'));
    expect(query).toHaveLength(1);
    expect(JSON.stringify(query[0].Resource)).toMatch(new RegExp(`/index/${MODEL_VERSION_INDEX}"`));
    expect(statements.some((s) => asList(s.Action).some((a) => /^dynamodb:(Scan|PutItem)/.test(a)))).toBe(
      false,
    );
    expect(stage.batchStack.drift.metric).toMatchObject({
      namespace: env.METRIC_NAMESPACE,
      metricName: DATA_DRIFT_METRIC,
      dimensions: { Stage: env.STAGE_NAME },
      threshold: DATA_DRIFT_ALARM_THRESHOLD,
    });
  });
});

describe('analytics export', () => {
  const exportFunction = (): [string, Resource] => {
    const found = Object.entries(batch.findResources('AWS::Lambda::Function')).filter(([, fn]) =>
      JSON.stringify(fn.Properties.Environment ?? {}).includes(
        '"POWERTOOLS_SERVICE_NAME":"analytics-export"',
      ),
    ) as [string, Resource][];
    expect(found).toHaveLength(1);
    return found[0];
  };

  it("reads INSERTs and feedback MODIFYs of the predictions table's stream in retried, bisected batches with a failure queue", () => {
    const [id] = exportFunction();
    const mappings = Object.values(batch.findResources('AWS::Lambda::EventSourceMapping')).filter(
      (m) => JSON.stringify(m.Properties.FunctionName) === JSON.stringify({ Ref: id }),
    ) as Resource[];
    expect(mappings).toHaveLength(1);
    const mapping = mappings[0].Properties;
    expect(mapping).toMatchObject({
      StartingPosition: 'LATEST',
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 30,
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 3,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      FilterCriteria: { Filters: [{ Pattern: JSON.stringify({ eventName: ['INSERT', 'MODIFY'] }) }] },
    });
    const [tableId] = Object.keys(data.findResources('AWS::DynamoDB::Table'));
    expect(JSON.stringify(mapping.EventSourceArn)).toContain(`${tableId}StreamArn`);
    const destination = (mapping.DestinationConfig as { OnFailure: { Destination: unknown } }).OnFailure
      .Destination as { 'Fn::GetAtt': [string, string] };
    expect(batch.findResources('AWS::SQS::Queue')[destination['Fn::GetAtt'][0]]).toBeDefined();
  });

  it('may only put objects under the analytics and feedback prefixes and encrypt them with the data key', () => {
    const [, fn] = exportFunction();
    const env = (fn.Properties.Environment as { Variables: Record<string, string> }).Variables;
    expect(env.ANALYTICS_PREFIX).toBe('analytics/predictions/');
    expect(env.FEEDBACK_PREFIX).toBe('analytics/feedback/');
    const roleId = (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const statements = statementsOfRole(roleId);
    const s3 = statements.filter((s) => asList(s.Action).some((a) => a.startsWith('s3:')));
    expect(s3).toHaveLength(2);
    expect(s3.map((s) => s.Action)).toEqual(['s3:PutObject', 's3:PutObject']);
    expect(s3.map((s) => asList(s.Resource).length)).toEqual([1, 1]);
    expect(
      s3.map((s) => /\/analytics\/(\w+)\/\*"\]\]\}$/.exec(JSON.stringify(s.Resource))?.[1]).sort(),
    ).toEqual(['feedback', 'predictions']);
    const [keyId] = Object.keys(data.findResources('AWS::KMS::Key'));
    const encrypt = statements.filter((s) => asList(s.Action).includes('kms:GenerateDataKey'));
    expect(encrypt.length).toBeGreaterThanOrEqual(1);
    for (const statement of encrypt) expect(statement.Resource).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
  });
});
