import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { MlInferenceStage } from '../../lib/stages/ml-inference-stage';
import { API_MODELS, API_RESPONSES, openApiDocument } from '../../lib/app/inference/api-models';
import { templateOnlyContext, testConfig } from '../support/cdk-app';
import { FIXTURE_BASELINE, FIXTURE_CANDIDATE, FIXTURE_MODELS_DIR } from '../support/model-fixtures';
import { loadModelMetadata, type ClassificationMetadata } from '../../services/model/artifacts';
import { openApiValidators } from '../support/openapi';

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}
type Resource = { Type: string; Properties: Record<string, unknown> };

let stage: MlInferenceStage;
let inference: Template;
let network: Template;
let data: Template;
let endpointLogicalId: string;

beforeAll(() => {
  const app = new App({ context: templateOnlyContext() });
  stage = new MlInferenceStage(app, 'Dev', { project: testConfig.project, config: testConfig.dev });
  inference = Template.fromStack(stage.inferenceStack);
  network = Template.fromStack(stage.networkStack);
  data = Template.fromStack(stage.dataStack);
  endpointLogicalId = Object.keys(inference.findResources('AWS::SageMaker::Endpoint'))[0];
});

const asList = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

/** Every Allow statement of the identity policies attached to a function's role. */
function statementsOfFunction(functionLogicalId: string): Statement[] {
  const fn = inference.findResources('AWS::Lambda::Function')[functionLogicalId] as Resource;
  const roleId = (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  return Object.values(inference.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p.Properties.Roles).includes(`"${roleId}"`))
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
    .filter((s) => s.Effect === 'Allow');
}

function functionIdByEntry(handlerFolder: string, envVar?: string): string[] {
  return Object.entries(inference.findResources('AWS::Lambda::Function'))
    .filter(([, fn]) => {
      const env = JSON.stringify(fn.Properties.Environment ?? {});
      return (
        env.includes(`"POWERTOOLS_SERVICE_NAME":"${handlerFolder}"`) && (!envVar || env.includes(envVar))
      );
    })
    .map(([id]) => id);
}

describe('endpoint', () => {
  it('allows sagemaker:InvokeEndpoint only on this endpoint, for every function that scores', () => {
    const scorers = [...functionIdByEntry('inference', 'ENDPOINT_NAME'), ...functionIdByEntry('stream')];
    expect(scorers).toHaveLength(2);
    for (const id of scorers) {
      const invoke = statementsOfFunction(id).filter((s) =>
        asList(s.Action).includes('sagemaker:InvokeEndpoint'),
      );
      expect(invoke).toHaveLength(1);
      expect(invoke[0].Resource).toEqual({ Ref: endpointLogicalId });
    }
    const everyStatement = Object.values(inference.findResources('AWS::IAM::Policy')).flatMap(
      (p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement,
    );
    for (const s of everyStatement) {
      if (asList(s.Action).some((a) => a.startsWith('sagemaker:'))) {
        expect(s.Resource).not.toBe('*');
      }
    }
  });

  it('deploys the candidate (VariantB) at weight 0 beside the baseline at 100, each from its own model, in the VPC', () => {
    const config = Object.values(inference.findResources('AWS::SageMaker::EndpointConfig'))[0];
    const variants = config.Properties.ProductionVariants as {
      VariantName: string;
      InitialVariantWeight: number;
      ModelName: { 'Fn::GetAtt': [string, string] };
    }[];
    expect(variants.map((v) => [v.VariantName, v.InitialVariantWeight])).toEqual([
      ['VariantA', 100],
      ['VariantB', 0],
    ]);
    const models = inference.findResources('AWS::SageMaker::Model');
    const versions = variants.map(
      (v) =>
        (models[v.ModelName['Fn::GetAtt'][0]].Properties.PrimaryContainer as { Environment: object })
          .Environment,
    );
    expect(versions).toEqual([{ MODEL_VERSION: FIXTURE_BASELINE }, { MODEL_VERSION: FIXTURE_CANDIDATE }]);
    for (const model of Object.values(models)) {
      expect(model.Properties.EnableNetworkIsolation).toBe(true);
      const vpc = model.Properties.VpcConfig as { Subnets: unknown[]; SecurityGroupIds: unknown[] };
      expect(vpc.Subnets.length).toBe(testConfig.dev.availabilityZones.length);
      expect(vpc.SecurityGroupIds).toHaveLength(1);
    }
  });

  it('loads each version from its own model.tar.gz object in the asset bucket', () => {
    const urls = Object.values(inference.findResources('AWS::SageMaker::Model')).map(
      (m) => (m.Properties.PrimaryContainer as { ModelDataUrl: string }).ModelDataUrl,
    );
    for (const url of urls) {
      expect(url).toMatch(/^s3:\/\/cdk-[a-z0-9]+-assets-222222222222-us-east-1\/[0-9a-f]{64}\.tar\.gz$/);
    }
    expect(new Set(urls).size).toBe(2);
    // The execution role may read those two objects and nothing else in the asset bucket.
    const reads = Object.values(inference.findResources('AWS::IAM::Policy'))
      .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
      .filter((s) => asList(s.Action).includes('s3:GetObject'))
      .flatMap((s) => asList(s.Resource))
      .map((r) => JSON.stringify(r));
    expect(reads).toHaveLength(2);
    for (const url of urls) {
      expect(reads.some((r) => r.includes(url.replace('s3://', '')))).toBe(true);
    }
  });

  it('captures input and output, encrypted with the data key, into the data bucket', () => {
    const config = Object.values(inference.findResources('AWS::SageMaker::EndpointConfig'))[0];
    const capture = config.Properties.DataCaptureConfig as Record<string, unknown>;
    expect(capture.EnableCapture).toBe(true);
    expect(capture.InitialSamplingPercentage).toBe(100);
    expect(capture.CaptureOptions).toEqual([{ CaptureMode: 'Input' }, { CaptureMode: 'Output' }]);
    // The data stack's key (the data bucket's own key), by cross-stack reference.
    expect(JSON.stringify(capture.KmsKeyId)).toContain(stage.dataStack.stackName);
    expect(JSON.stringify(capture.KmsKeyId)).toMatch(/EncryptionKey\w*Arn/);
    expect(JSON.stringify(capture.DestinationS3Uri)).toContain('/data-capture');
    // Instance volumes: this stack's own key.
    const volumeKey = (config.Properties.KmsKeyId as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    expect(inference.findResources('AWS::KMS::Key')[volumeKey].Properties.EnableKeyRotation).toBe(true);
    // The write permission lives in the data stack and covers only the capture prefix.
    data.hasResourceProperties('AWS::IAM::ManagedPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 's3:PutObject',
            Resource: { 'Fn::Join': ['', [Match.anyValue(), '/data-capture/*']] },
          }),
        ]),
      },
    });
  });

  it('autoscales both variants on invocations per instance', () => {
    const targets = inference.findResources('AWS::ApplicationAutoScaling::ScalableTarget');
    const variantOf = (resourceId: unknown): string => JSON.stringify(resourceId).match(/variant\/(\w+)/)![1];
    expect(Object.values(targets).map((t) => variantOf(t.Properties.ResourceId))).toEqual([
      'VariantA',
      'VariantB',
    ]);
    for (const target of Object.values(targets)) {
      expect(target.Properties).toMatchObject({
        ServiceNamespace: 'sagemaker',
        ScalableDimension: 'sagemaker:variant:DesiredInstanceCount',
        MinCapacity: 1,
        MaxCapacity: 4,
      });
      expect(JSON.stringify(target.Properties.ResourceId)).toContain(endpointLogicalId);
      // SageMaker scaling always runs as the service-linked role.
      expect(JSON.stringify(target.Properties.RoleARN)).toContain(
        'AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint',
      );
    }
    const policies = Object.values(inference.findResources('AWS::ApplicationAutoScaling::ScalingPolicy'));
    expect(policies).toHaveLength(2);
    const targetIds = policies.map((p) => (p.Properties.ScalingTargetId as { Ref: string }).Ref).sort();
    expect(targetIds).toEqual(Object.keys(targets).sort());
    for (const policy of policies) {
      expect(policy.Properties).toMatchObject({
        PolicyType: 'TargetTrackingScaling',
        TargetTrackingScalingPolicyConfiguration: {
          PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance' },
        },
      });
    }
  });
});

describe('network reachability', () => {
  it('runs every function in the VPC, whose route tables have no Internet route', () => {
    const functions = Object.values(inference.findResources('AWS::Lambda::Function'));
    expect(functions.length).toBeGreaterThanOrEqual(3);
    for (const fn of functions) {
      const vpc = fn.Properties.VpcConfig as
        { SubnetIds: unknown[]; SecurityGroupIds: unknown[] } | undefined;
      expect(vpc?.SubnetIds.length).toBe(testConfig.dev.availabilityZones.length);
      expect(vpc?.SecurityGroupIds.length).toBeGreaterThan(0);
    }
    network.resourceCountIs('AWS::EC2::InternetGateway', 0);
    network.resourceCountIs('AWS::EC2::NatGateway', 0);
    for (const route of Object.values(network.findResources('AWS::EC2::Route'))) {
      expect(route.Properties.DestinationCidrBlock).not.toBe('0.0.0.0/0');
      expect(route.Properties.GatewayId).toBeUndefined();
    }
  });
});

describe('api', () => {
  it('registers the models and method responses docs/openapi.json documents, and answers its own errors in that shape', () => {
    const template = inference;
    const document = openApiDocument() as { components: { schemas: Record<string, object> } };
    const validators = openApiValidators();
    const models = Object.values(template.findResources('AWS::ApiGateway::Model'));
    const byName = Object.fromEntries(models.map((m) => [m.Properties.Name as string, m.Properties.Schema]));
    for (const [name, schema] of Object.entries(API_MODELS)) {
      const { $schema, ...deployed } = byName[name] as Record<string, unknown>;
      expect($schema).toBe('http://json-schema.org/draft-04/schema#');
      expect(deployed).toEqual(JSON.parse(JSON.stringify(schema)));
      expect(document.components.schemas[name]).toEqual({ ...deployed, title: undefined });
    }
    // API Gateway's own answers (bad body, unsigned, throttled) render the same error shape.
    const gatewayResponses = Object.values(template.findResources('AWS::ApiGateway::GatewayResponse'));
    expect(gatewayResponses.map((r) => r.Properties.ResponseType).sort()).toEqual([
      'BAD_REQUEST_BODY',
      'DEFAULT_4XX',
      'DEFAULT_5XX',
    ]);
    for (const response of gatewayResponses) {
      const rendered = (response.Properties.ResponseTemplates['application/json'] as string)
        .replace('$context.error.messageString', JSON.stringify('Invalid request body'))
        .replace('$context.error.responseType', 'THROTTLED');
      const validate = validators.ErrorAnswer!;
      expect(validate(JSON.parse(rendered)) ? [] : validate.errors).toEqual([]);
    }
    for (const method of Object.values(template.findResources('AWS::ApiGateway::Method'))) {
      const feedback =
        method.Properties.RequestModels?.['application/json'] !== undefined &&
        JSON.stringify(method.Properties.RequestModels).includes('FeedbackRequest');
      const route: keyof typeof API_RESPONSES = feedback
        ? 'POST /predictions/{id}/feedback'
        : method.Properties.HttpMethod === 'POST'
          ? 'POST /predict'
          : 'GET /predictions/{id}';
      const statuses = (method.Properties.MethodResponses as { StatusCode: string }[]).map(
        (r) => r.StatusCode,
      );
      expect(statuses.sort()).toEqual(Object.keys(API_RESPONSES[route]).sort());
    }
  });

  it('requires IAM (SigV4) authorization on every method', () => {
    const methods = Object.values(inference.findResources('AWS::ApiGateway::Method'));
    expect(methods.map((m) => m.Properties.HttpMethod).sort()).toEqual(['GET', 'POST', 'POST']);
    for (const method of methods) {
      expect(method.Properties.AuthorizationType).toBe('AWS_IAM');
    }
  });

  it('caches no answer: the per-caller GET must never be served to another caller from the stage cache', () => {
    const stageResource = Object.values(inference.findResources('AWS::ApiGateway::Stage'))[0]!;
    expect(stageResource.Properties.CacheClusterEnabled).not.toBe(true);
    const settings = (stageResource.Properties.MethodSettings ?? []) as Record<string, unknown>[];
    expect(settings.filter((s) => s.CachingEnabled === true)).toEqual([]);
    const get = Object.values(inference.findResources('AWS::ApiGateway::Method')).find(
      (m) => m.Properties.HttpMethod === 'GET',
    )!;
    expect(get.Properties.Integration.CacheKeyParameters ?? []).toEqual([]);
  });

  it('validates the POST /predict body against the features model', () => {
    const post = Object.values(inference.findResources('AWS::ApiGateway::Method')).find(
      (m) => m.Properties.HttpMethod === 'POST',
    )!;
    const validatorId = (post.Properties.RequestValidatorId as { Ref: string }).Ref;
    expect(
      inference.findResources('AWS::ApiGateway::RequestValidator')[validatorId].Properties,
    ).toMatchObject({
      ValidateRequestBody: true,
    });
    const modelId = (post.Properties.RequestModels as Record<string, { Ref: string }>)['application/json']
      .Ref;
    const schema = inference.findResources('AWS::ApiGateway::Model')[modelId].Properties.Schema as {
      required: string[];
      properties: Record<string, { type: string; items?: { type: string } }>;
    };
    expect(schema.required).toEqual(['features']);
    expect(schema.properties.features).toMatchObject({ type: 'array', items: { type: 'number' } });
    expect(schema.properties.requestId.type).toBe('string');
  });

  it('throttles, traces and writes access logs to an encrypted log group', () => {
    const stageResource = Object.values(inference.findResources('AWS::ApiGateway::Stage'))[0];
    expect(stageResource.Properties.TracingEnabled).toBe(true);
    const settings = stageResource.Properties.MethodSettings as Record<string, unknown>[];
    expect(settings.find((s) => s.ResourcePath === '/*')).toMatchObject({
      ThrottlingRateLimit: expect.any(Number),
      ThrottlingBurstLimit: expect.any(Number),
    });
    const destination = JSON.stringify(stageResource.Properties.AccessLogSetting);
    const [logGroupId] = Object.entries(inference.findResources('AWS::Logs::LogGroup')).find(([id]) =>
      destination.includes(id),
    )!;
    expect(inference.findResources('AWS::Logs::LogGroup')[logGroupId].Properties.KmsKeyId).toBeDefined();
  });
});

describe('stream', () => {
  it('feeds the consumer from a KMS stream in batches, with bisect, retries, partial failures and an SQS DLQ', () => {
    inference.hasResourceProperties('AWS::Kinesis::Stream', {
      StreamEncryption: { EncryptionType: 'KMS', KeyId: Match.anyValue() },
    });
    const mapping = Object.values(inference.findResources('AWS::Lambda::EventSourceMapping'))[0];
    expect(mapping.Properties).toMatchObject({
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 5,
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 3,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    const dlqId = (
      mapping.Properties.DestinationConfig as { OnFailure: { Destination: { 'Fn::GetAtt': [string] } } }
    ).OnFailure.Destination['Fn::GetAtt'][0];
    expect(inference.findResources('AWS::SQS::Queue')[dlqId].Properties.KmsMasterKeyId).toBeDefined();
    const [consumerId] = functionIdByEntry('stream');
    const send = statementsOfFunction(consumerId).filter((s) => asList(s.Action).includes('sqs:SendMessage'));
    expect(send.map((s) => s.Resource)).toContainEqual({ 'Fn::GetAtt': [dlqId, 'Arn'] });
  });
});

describe('model registry', () => {
  it('publishes the active version and per-version metadata under the stage prefix, readable by name only', () => {
    const prefix = `/${testConfig.project}/${testConfig.dev.stageName}/model`;
    inference.hasResourceProperties('AWS::SSM::Parameter', {
      Name: `${prefix}/active-version`,
      Value: FIXTURE_BASELINE,
    });
    const candidate = Object.values(inference.findResources('AWS::SSM::Parameter')).find(
      (p) => p.Properties.Name === `${prefix}/versions/${FIXTURE_CANDIDATE}`,
    )!;
    expect(JSON.parse(candidate.Properties.Value as string)).toMatchObject({
      version: FIXTURE_CANDIDATE,
      task: 'classification',
      featureCount: 4,
      labels: ['alpha', 'beta', 'gamma'],
      status: 'candidate',
    });
    // 4 features' drift bins fit the standard tier (4 KB).
    expect(candidate.Properties.Tier).toBe('Standard');
    const [predictId] = functionIdByEntry('inference', 'MODEL_PARAMETER_PREFIX');
    const ssm = statementsOfFunction(predictId).filter((s) =>
      asList(s.Action).some((a) => a.startsWith('ssm:')),
    );
    expect(ssm.length).toBeGreaterThan(0);
    for (const s of ssm) expect(JSON.stringify(s.Resource)).not.toContain('*');
  });

  it("publishes the deployed versions' shared input schema, the only parameter request validation may read", () => {
    const prefix = `/${testConfig.project}/${testConfig.dev.stageName}/model`;
    const [schemaId, schema] = Object.entries(inference.findResources('AWS::SSM::Parameter')).find(
      ([, p]) => p.Properties.Name === `${prefix}/input-schema`,
    )!;
    expect(JSON.parse(schema.Properties.Value as string)).toEqual({
      task: 'classification',
      featureCount: 4,
      versions: [FIXTURE_BASELINE, FIXTURE_CANDIDATE],
      labels: (loadModelMetadata(FIXTURE_BASELINE, FIXTURE_MODELS_DIR) as ClassificationMetadata).labels,
    });
    const validators = [
      ...functionIdByEntry('inference', 'MODEL_PARAMETER_PREFIX'),
      ...functionIdByEntry('stream'),
    ];
    expect(validators).toHaveLength(2);
    for (const id of validators) {
      const reads = statementsOfFunction(id).filter((s) => asList(s.Action).includes('ssm:GetParameter'));
      expect(reads.map((s) => s.Resource)).toEqual([
        expect.objectContaining({ 'Fn::Join': expect.anything() }),
      ]);
      expect(JSON.stringify(reads[0]!.Resource)).toContain(schemaId);
    }
  });
});

describe('outputs', () => {
  it('exports the API URL, endpoint name and stream ARN', () => {
    const outputs = inference.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs.ApiUrl.Value).toBeDefined();
    expect(outputs.EndpointName.Value).toEqual({ 'Fn::GetAtt': [endpointLogicalId, 'EndpointName'] });
    expect(JSON.stringify(outputs.StreamArn.Value)).toContain('Stream');
  });
});
