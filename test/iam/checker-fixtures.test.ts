import {
  endpointServiceFor,
  missingOutputs,
  principalOf,
  proveEndpoint,
  provePermission,
  requiredPermissions,
  roleStatements,
  vpcEndpoints,
  type CfnResource,
  type ResourceRef,
  type StageTemplates,
} from './checker';
import { synthesizeStage } from './stage-templates';

/** The checks must fail on a deliberately broken copy of the real templates, naming exactly what broke. */

let templates: StageTemplates;
let predict: ResourceRef;
const INVOKE = { action: 'sagemaker:InvokeEndpoint', resourceKind: 'endpoint' };

beforeAll(() => {
  const synthesized = synthesizeStage();
  templates = synthesized.templates;
  predict = synthesized.locate('Inference/Predict')!;
});

function copy(stage: StageTemplates): StageTemplates {
  return JSON.parse(JSON.stringify(stage)) as StageTemplates;
}

function iamProblems(stage: StageTemplates, call: { action: string; resourceKind: string }): string[] {
  const principal = principalOf(stage, predict);
  const { required, problems } = requiredPermissions(call, principal, stage, `predict ${call.action}`);
  const statements = roleStatements(stage, principal.role!);
  return [...problems, ...required.map((r) => provePermission(statements, r)).filter((p) => p !== undefined)];
}

function statementsOf(resource: CfnResource): Record<string, unknown>[] {
  const document = resource.Properties?.PolicyDocument as { Statement: Record<string, unknown>[] };
  return document.Statement;
}

it('a removed grant: the call it allowed is reported as not allowed', () => {
  expect(iamProblems(templates, INVOKE)).toEqual([]);
  const broken = copy(templates);
  for (const resource of Object.values(broken.stacks[predict.stack]!.Resources!)) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    const statements = statementsOf(resource);
    const index = statements.findIndex((s) => s.Action === 'sagemaker:InvokeEndpoint');
    if (index >= 0 && JSON.stringify(resource.Properties?.Roles).includes('Predict'))
      statements.splice(index, 1);
  }
  expect(iamProblems(broken, INVOKE)).toEqual([
    expect.stringMatching(
      /^sagemaker:InvokeEndpoint on \{Dev-Inference\/ModelEndpoint\w+\.Arn\} is not allowed/,
    ),
  ]);
  expect(iamProblems(broken, { action: 'dynamodb:PutItem', resourceKind: 'table' })).toEqual([]);
});

it('a grant on the wrong resource (the table instead of its index) does not prove an index query', () => {
  expect(
    iamProblems(templates, { action: 'dynamodb:Query', resourceKind: 'table-index:modelVersionIndex' }),
  ).toEqual([
    expect.stringMatching(
      /^dynamodb:Query on \{Dev-Data\/\w+\.Arn\}\/index\/modelVersionIndex is not allowed/,
    ),
  ]);
});

it('a removed interface endpoint: the service is reported unreachable from the VPC', () => {
  const vpc = principalOf(templates, predict).vpc!;
  const service = endpointServiceFor('sagemaker:InvokeEndpoint');
  expect(proveEndpoint(vpcEndpoints(templates, vpc), service, templates.region)).toBeUndefined();
  const broken = copy(templates);
  const network = broken.stacks[vpc.stack]!.Resources!;
  for (const [id, resource] of Object.entries(network)) {
    if (JSON.stringify(resource.Properties?.ServiceName ?? '').includes('sagemaker.runtime'))
      delete network[id];
  }
  const endpoints = vpcEndpoints(broken, vpc);
  expect(proveEndpoint(endpoints, service, broken.region)).toBe(
    `no Interface endpoint com.amazonaws.${broken.region}.sagemaker.runtime in the VPC`,
  );
  expect(proveEndpoint(endpoints, 'dynamodb', broken.region)).toBeUndefined();
});

it('a renamed output: the step that reads it is reported', () => {
  const consumed = [{ stack: predict.stack, output: 'ApiUrl' }];
  expect(missingOutputs(templates, consumed)).toEqual([]);
  const broken = copy(templates);
  const outputs = broken.stacks[predict.stack]!.Outputs as Record<string, unknown>;
  outputs.InferenceApiUrl = outputs.ApiUrl;
  delete outputs.ApiUrl;
  expect(missingOutputs(broken, consumed)).toEqual([`${predict.stack}.ApiUrl`]);
});

it('an environment variable naming a resource that moved away: the table kind no longer resolves', () => {
  const broken = copy(templates);
  const fn = broken.stacks[predict.stack]!.Resources![predict.logicalId]!;
  const variables = (fn.Properties!.Environment as { Variables: Record<string, unknown> }).Variables;
  variables.TABLE_NAME = 'predictions-typed-by-hand';
  expect(iamProblems(broken, { action: 'dynamodb:GetItem', resourceKind: 'table' })).toEqual([
    'predict dynamodb:GetItem: TABLE_NAME=predictions-typed-by-hand names no resource of the stage',
  ]);
});
