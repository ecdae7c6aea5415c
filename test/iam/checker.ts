/**
 * Pure checks over synthesized CloudFormation templates of one stage: resolving intrinsic functions
 * to comparable strings, proving IAM calls, VPC endpoints and references. No CDK imports, so the
 * broken-fixture tests run on plain JSON in milliseconds.
 *
 * Resolution is symbolic: `{Ref}` / `Fn::GetAtt` of a stage resource becomes `{<stack>/<logicalId>.<attr>}`
 * (a `Ref` that returns an ARN becomes `.Arn`), `Fn::ImportValue` and `Fn::GetStackOutput` are followed
 * through the other stacks' `Outputs`, `Fn::Join`/`Fn::Sub`/`Fn::Select` are evaluated. Two values that
 * name the same resource the same way resolve to the same string.
 */

/** A CloudFormation resource. */
export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
}

/** A CloudFormation output. */
export interface CfnOutput {
  readonly Value: unknown;
  readonly Export?: { readonly Name: unknown };
}

/** The parts of a template the checks read. */
export interface CfnTemplate {
  readonly Resources?: Record<string, CfnResource>;
  readonly Outputs?: Record<string, CfnOutput>;
}

/** All templates of one stage, by stack name (the name `Fn::GetStackOutput` uses). */
export interface StageTemplates {
  readonly stacks: Readonly<Record<string, CfnTemplate>>;
  readonly region: string;
  readonly account: string;
  readonly partition: string;
}

/** A resource of the stage. */
export interface ResourceRef {
  readonly stack: string;
  readonly logicalId: string;
}

/** Resource types whose `Ref` is their ARN. */
const REF_IS_ARN = new Set([
  'AWS::SageMaker::Endpoint',
  'AWS::SNS::Topic',
  'AWS::StepFunctions::StateMachine',
  'AWS::IAM::ManagedPolicy',
  'AWS::Batch::JobQueue',
  'AWS::Batch::JobDefinition',
]);

/** Attributes that are another name for a resource's ARN, so both spellings resolve alike. */
const ARN_ATTRIBUTES: Readonly<Record<string, string>> = {
  'AWS::Batch::JobQueue': 'JobQueueArn',
  'AWS::Batch::ComputeEnvironment': 'ComputeEnvironmentArn',
  'AWS::StepFunctions::StateMachine': 'StateMachineArn',
};

const PSEUDO: Record<string, (stage: StageTemplates, stack: string) => string> = {
  'AWS::Partition': (s) => s.partition,
  'AWS::Region': (s) => s.region,
  'AWS::AccountId': (s) => s.account,
  'AWS::URLSuffix': () => 'amazonaws.com',
  'AWS::StackName': (_s, stack) => stack,
  'AWS::NoValue': () => '',
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The symbol of a resource attribute, `{stack/logicalId.attr}`. */
export function symbol(ref: ResourceRef, attribute: string): string {
  return `{${ref.stack}/${ref.logicalId}.${attribute}}`;
}

/** The resource a `{stack/logicalId.attr}` symbol names, if `value` is exactly one symbol. */
export function parseSymbol(value: string): (ResourceRef & { readonly attribute: string }) | undefined {
  const match = /^\{([^/{}]+)\/([A-Za-z0-9]+)\.([A-Za-z0-9.]+)\}$/.exec(value);
  return match ? { stack: match[1]!, logicalId: match[2]!, attribute: match[3]! } : undefined;
}

/** The resource `ref` points at, if the stage has it. */
export function resourceOf(stage: StageTemplates, ref: ResourceRef): CfnResource | undefined {
  return stage.stacks[ref.stack]?.Resources?.[ref.logicalId];
}

function resolveRef(name: string, stage: StageTemplates, stack: string): string {
  const pseudo = PSEUDO[name];
  if (pseudo) return pseudo(stage, stack);
  const resource = stage.stacks[stack]?.Resources?.[name];
  const ref = { stack, logicalId: name };
  if (!resource) return symbol(ref, 'Ref');
  const literalName = resource.Properties?.Name;
  if (resource.Type === 'AWS::SSM::Parameter' && typeof literalName === 'string') return literalName;
  return symbol(ref, REF_IS_ARN.has(resource.Type) ? 'Arn' : 'Ref');
}

function resolveOutput(stage: StageTemplates, stackName: string, outputName: string): string {
  const output = stage.stacks[stackName]?.Outputs?.[outputName];
  return output ? resolve(output.Value, stage, stackName) : `{missing-output:${stackName}.${outputName}}`;
}

function resolveImport(stage: StageTemplates, exportName: string): string {
  for (const [stackName, template] of Object.entries(stage.stacks)) {
    for (const output of Object.values(template.Outputs ?? {})) {
      if (output.Export && resolve(output.Export.Name, stage, stackName) === exportName) {
        return resolve(output.Value, stage, stackName);
      }
    }
  }
  return `{missing-export:${exportName}}`;
}

function resolveSub(value: unknown, stage: StageTemplates, stack: string): string {
  const [text, variables] = Array.isArray(value) ? value : [value, {}];
  const vars = isRecord(variables) ? variables : {};
  return String(text).replace(/\$\{([^}]+)\}/g, (_all, name: string) => {
    if (name in vars) return resolve(vars[name], stage, stack);
    const [id, ...attr] = name.split('.');
    return attr.length > 0
      ? symbol({ stack, logicalId: id! }, attr.join('.'))
      : resolveRef(name, stage, stack);
  });
}

/** Resolves a template value in `stack` to a string (symbols for attributes of stage resources). */
export function resolve(value: unknown, stage: StageTemplates, stack: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (!isRecord(value)) return JSON.stringify(value);
  const [fn] = Object.keys(value);
  const arg = value[fn!];
  switch (fn) {
    case 'Ref':
      return resolveRef(String(arg), stage, stack);
    case 'Fn::GetAtt': {
      const [id, attribute] = Array.isArray(arg) ? arg : String(arg).split('.');
      const type = stage.stacks[stack]?.Resources?.[String(id)]?.Type ?? '';
      const canonical = ARN_ATTRIBUTES[type] === String(attribute) ? 'Arn' : String(attribute);
      return symbol({ stack, logicalId: String(id) }, canonical);
    }
    case 'Fn::Join': {
      const [separator, parts] = arg as [string, unknown[]];
      return parts.map((part) => resolve(part, stage, stack)).join(separator);
    }
    case 'Fn::Select': {
      const [index, list] = arg as [unknown, unknown];
      const items = Array.isArray(list) ? list : [];
      return resolve(items[Number(resolve(index, stage, stack))], stage, stack);
    }
    case 'Fn::Sub':
      return resolveSub(arg, stage, stack);
    case 'Fn::ImportValue':
      return resolveImport(stage, resolve(arg, stage, stack));
    case 'Fn::GetStackOutput': {
      const spec = isRecord(arg) ? arg : {};
      return resolveOutput(
        stage,
        resolve(spec.StackName, stage, stack),
        resolve(spec.OutputName, stage, stack),
      );
    }
    default:
      return `{unresolved:${JSON.stringify(value)}}`;
  }
}

/** The resource a value refers to (a Ref, GetAtt, import or output of one), if it names exactly one. */
export function referencedResource(
  value: unknown,
  stage: StageTemplates,
  stack: string,
): ResourceRef | undefined {
  const parsed = parseSymbol(resolve(value, stage, stack));
  if (!parsed || !resourceOf(stage, parsed)) return undefined;
  return { stack: parsed.stack, logicalId: parsed.logicalId };
}

/**
 * Ways an IAM policy may spell the ARN of `ref` (its `Arn` attribute, or the ARN built from its name),
 * for the resource types the stage's components call.
 */
export function arnForms(stage: StageTemplates, ref: ResourceRef): string[] {
  const resource = resourceOf(stage, ref);
  if (!resource) return [];
  const { partition, region, account } = stage;
  const arn = (service: string, resourcePart: string, regional = true): string =>
    `arn:${partition}:${service}:${regional ? region : ''}:${regional ? account : ''}:${resourcePart}`;
  const name = resource.Properties?.Name;
  switch (resource.Type) {
    case 'AWS::SSM::Parameter':
      return typeof name === 'string'
        ? [arn('ssm', `parameter/${name.replace(/^\//, '')}`)]
        : [arn('ssm', `parameter/${symbol(ref, 'Ref')}`)];
    case 'AWS::DynamoDB::Table':
      return [symbol(ref, 'Arn'), arn('dynamodb', `table/${symbol(ref, 'Ref')}`)];
    case 'AWS::SageMaker::Endpoint':
      return [symbol(ref, 'Arn'), arn('sagemaker', `endpoint/${symbol(ref, 'EndpointName')}`)];
    case 'AWS::SQS::Queue':
      return [symbol(ref, 'Arn'), arn('sqs', symbol(ref, 'QueueName'))];
    case 'AWS::S3::Bucket':
      return [symbol(ref, 'Arn'), `arn:${partition}:s3:::${symbol(ref, 'Ref')}`];
    case 'AWS::Batch::JobDefinition':
      return [symbol(ref, 'Arn'), arn('batch', `job-definition/${symbol(ref, 'Name')}`)];
    case 'AWS::Batch::JobQueue':
      return [symbol(ref, 'Arn'), arn('batch', `job-queue/${symbol(ref, 'Name')}`)];
    case 'AWS::Lambda::Function':
      return [symbol(ref, 'Arn'), arn('lambda', `function:${symbol(ref, 'Ref')}`)];
    case 'AWS::CloudWatch::Alarm':
      return [symbol(ref, 'Arn'), arn('cloudwatch', `alarm:${symbol(ref, 'Ref')}`)];
    default:
      return [symbol(ref, 'Arn')];
  }
}

// ---- IAM ---------------------------------------------------------------------------------------

/** One policy statement, resolved. */
export interface Statement {
  readonly effect: 'Allow' | 'Deny';
  readonly actions: readonly string[];
  readonly resources: readonly string[];
  /** Where it comes from, for messages: `<stack>/<policy logical id>` or the AWS-managed policy name. */
  readonly source: string;
}

/**
 * AWS-managed policies the stage attaches, with the actions they grant. Only the well-known Lambda
 * execution policies (logs, VPC network interfaces, X-Ray): anything else must be in a template.
 */
export const AWS_MANAGED_POLICIES: Readonly<Record<string, readonly string[]>> = {
  'service-role/AWSLambdaBasicExecutionRole': [
    'logs:CreateLogGroup',
    'logs:CreateLogStream',
    'logs:PutLogEvents',
  ],
  'service-role/AWSLambdaVPCAccessExecutionRole': [
    'logs:CreateLogGroup',
    'logs:CreateLogStream',
    'logs:PutLogEvents',
    'ec2:CreateNetworkInterface',
    'ec2:DescribeNetworkInterfaces',
    'ec2:DescribeSubnets',
    'ec2:DeleteNetworkInterface',
    'ec2:AssignPrivateIpAddresses',
    'ec2:UnassignPrivateIpAddresses',
  ],
  AWSXRayDaemonWriteAccess: [
    'xray:PutTraceSegments',
    'xray:PutTelemetryRecords',
    'xray:GetSamplingRules',
    'xray:GetSamplingTargets',
    'xray:GetSamplingStatisticSummaries',
  ],
};

/** Actions that support no resource-level permissions: only for these a `Resource: *` proves a call. */
export const NO_RESOURCE_LEVEL_ACTIONS: readonly string[] = [
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
  'cloudwatch:PutMetricData',
  'cloudwatch:GetMetricData',
  'cloudwatch:ListMetrics',
  'ecr:GetAuthorizationToken',
  'ssm:DescribeParameters',
  'logs:CreateLogDelivery',
  'logs:GetLogDelivery',
  'logs:UpdateLogDelivery',
  'logs:DeleteLogDelivery',
  'logs:ListLogDeliveries',
  'logs:PutResourcePolicy',
  'logs:DescribeResourcePolicies',
  'logs:DescribeLogGroups',
  'xray:GetSamplingRules',
  'xray:GetSamplingTargets',
];

function toList(value: unknown): unknown[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** IAM wildcard match (`*`, `?`); actions compare case-insensitively. */
export function iamMatches(pattern: string, value: string, caseInsensitive = false): boolean {
  const source = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`, caseInsensitive ? 'i' : '').test(value);
}

function statementsOf(document: unknown, source: string, stage: StageTemplates, stack: string): Statement[] {
  if (!isRecord(document)) return [];
  return toList(document.Statement)
    .filter(isRecord)
    .filter((s) => s.NotAction === undefined && s.NotResource === undefined)
    .map((s) => ({
      effect: s.Effect === 'Deny' ? 'Deny' : 'Allow',
      actions: toList(s.Action).map(String),
      resources: toList(s.Resource).map((r) => resolve(r, stage, stack)),
      source,
    }));
}

/**
 * Every statement that applies to a role: its inline `Policies`, `AWS::IAM::Policy` and
 * `AWS::IAM::ManagedPolicy` resources in any stack of the stage that attach to it (or that its
 * `ManagedPolicyArns` names), and the listed AWS-managed policies.
 */
export function roleStatements(stage: StageTemplates, role: ResourceRef): Statement[] {
  const roleResource = resourceOf(stage, role);
  if (!roleResource) throw new Error(`role ${role.stack}/${role.logicalId} is not in the stage`);
  const roleSymbol = symbol(role, 'Ref');
  const statements: Statement[] = [];
  for (const policy of toList(roleResource.Properties?.Policies).filter(isRecord)) {
    statements.push(
      ...statementsOf(policy.PolicyDocument, `${role.stack}/${role.logicalId}(inline)`, stage, role.stack),
    );
  }
  const managedArns = toList(roleResource.Properties?.ManagedPolicyArns).map((arn) =>
    resolve(arn, stage, role.stack),
  );
  for (const arn of managedArns) {
    const awsManaged = /^arn:[^:]+:iam::aws:policy\/(.+)$/.exec(arn);
    const actions = awsManaged ? AWS_MANAGED_POLICIES[awsManaged[1]!] : undefined;
    if (actions)
      statements.push({
        effect: 'Allow',
        actions,
        resources: ['*'],
        source: `aws-managed/${awsManaged![1]}`,
      });
  }
  for (const [stackName, template] of Object.entries(stage.stacks)) {
    for (const [id, resource] of Object.entries(template.Resources ?? {})) {
      if (resource.Type !== 'AWS::IAM::Policy' && resource.Type !== 'AWS::IAM::ManagedPolicy') continue;
      const attached = toList(resource.Properties?.Roles).some(
        (r) => resolve(r, stage, stackName) === roleSymbol,
      );
      const named = managedArns.includes(symbol({ stack: stackName, logicalId: id }, 'Arn'));
      if (attached || named) {
        statements.push(
          ...statementsOf(resource.Properties?.PolicyDocument, `${stackName}/${id}`, stage, stackName),
        );
      }
    }
  }
  return statements;
}

/** A call to prove: an IAM action on one of several spellings of one resource ARN (or `*`). */
export interface RequiredPermission {
  /** `service:Action` as IAM names it. */
  readonly action: string;
  /** ARN forms of the target (any one matching is enough); `['*']` for actions without resource scope. */
  readonly resource: readonly string[];
  /** What needed it, for messages. */
  readonly reason: string;
}

/** Why a required permission is not granted, or undefined when an Allow statement proves it. */
export function provePermission(
  statements: readonly Statement[],
  required: RequiredPermission,
): string | undefined {
  const wildcardOk = NO_RESOURCE_LEVEL_ACTIONS.some((a) => a.toLowerCase() === required.action.toLowerCase());
  const covers = (s: Statement): boolean =>
    s.actions.some((a) => iamMatches(a, required.action, true)) &&
    s.resources.some((pattern) =>
      pattern === '*'
        ? wildcardOk || required.resource.includes('*')
        : required.resource.some((r) => iamMatches(pattern, r)),
    );
  const denied = statements.find((s) => s.effect === 'Deny' && covers(s));
  if (denied)
    return `${required.action} on ${required.resource[0]} is denied by ${denied.source} (${required.reason})`;
  if (statements.some((s) => s.effect === 'Allow' && covers(s))) return undefined;
  return `${required.action} on ${required.resource[0]} is not allowed (${required.reason})`;
}

/** Allowed actions of a role that no required permission used, as `action` strings (AWS-managed excluded). */
export function unusedActions(
  statements: readonly Statement[],
  used: readonly RequiredPermission[],
): string[] {
  const unused = new Set<string>();
  for (const statement of statements) {
    if (statement.effect !== 'Allow' || statement.source.startsWith('aws-managed/')) continue;
    for (const action of statement.actions) {
      if (!used.some((u) => iamMatches(action, u.action, true))) unused.add(action);
    }
  }
  return [...unused].sort();
}

/** The IAM actions (with the part of the target each applies to) one SDK API call needs. */
export function iamActionsForCall(
  action: string,
): { readonly action: string; readonly on: 'object' | 'bucket' | 'resource' }[] {
  const [service, api] = action.split(':') as [string, string];
  if (service === 's3') {
    if (api === 'ListObjectsV2' || api === 'ListObjects') return [{ action: 's3:ListBucket', on: 'bucket' }];
    if (api === 'HeadObject') return [{ action: 's3:GetObject', on: 'object' }];
    // The recorder records a copy as CopyObject (the destination) and CopyObjectSource (the source).
    if (api === 'CopyObject') return [{ action: 's3:PutObject', on: 'object' }];
    if (api === 'CopyObjectSource') return [{ action: 's3:GetObject', on: 'object' }];
    // The recorder adds ConditionalDeleteRead for a DeleteObject with If-Match: S3 checks s3:GetObject too.
    if (api === 'ConditionalDeleteRead') return [{ action: 's3:GetObject', on: 'object' }];
  }
  return [{ action, on: 'resource' }];
}

// ---- Network ----------------------------------------------------------------------------------

/** The VPC endpoint service name an IAM service prefix is reached through (`sagemaker` → `sagemaker.runtime`). */
export function endpointServiceFor(iamAction: string): string {
  const [service, api] = iamAction.split(':') as [string, string];
  if (service === 'sagemaker')
    return api === 'InvokeEndpoint' || api === 'InvokeEndpointAsync' ? 'sagemaker.runtime' : 'sagemaker.api';
  if (service === 'cloudwatch') return 'monitoring';
  if (service === 'states') return 'states';
  return service;
}

/** Gateway endpoint services (route-table entries); every other service needs an interface endpoint. */
export const GATEWAY_SERVICES: readonly string[] = ['s3', 'dynamodb'];

/** The VPC endpoints of a VPC: `com.amazonaws.<region>.<service>` names by endpoint type. */
export function vpcEndpoints(
  stage: StageTemplates,
  vpc: ResourceRef,
): { readonly service: string; readonly type: string }[] {
  const vpcSymbol = symbol(vpc, 'Ref');
  const found: { service: string; type: string }[] = [];
  for (const [stackName, template] of Object.entries(stage.stacks)) {
    for (const resource of Object.values(template.Resources ?? {})) {
      if (resource.Type !== 'AWS::EC2::VPCEndpoint') continue;
      if (resolve(resource.Properties?.VpcId, stage, stackName) !== vpcSymbol) continue;
      found.push({
        service: resolve(resource.Properties?.ServiceName, stage, stackName),
        type: String(resource.Properties?.VpcEndpointType ?? 'Gateway'),
      });
    }
  }
  return found;
}

/** Why `service` is not reachable from the VPC, or undefined when it has the right kind of endpoint. */
export function proveEndpoint(
  endpoints: readonly { readonly service: string; readonly type: string }[],
  service: string,
  region: string,
): string | undefined {
  const name = `com.amazonaws.${region}.${service}`;
  const type = GATEWAY_SERVICES.includes(service) ? 'Gateway' : 'Interface';
  const match = endpoints.find(
    (e) => e.service === name && (e.type === type || (type === 'Gateway' && e.type === 'Interface')),
  );
  return match ? undefined : `no ${type} endpoint ${name} in the VPC`;
}

// ---- References -------------------------------------------------------------------------------

/** Outputs a step reads that no stack of the stage has, as `<stack>.<output>` strings. */
export function missingOutputs(
  stage: StageTemplates,
  consumed: readonly { readonly stack: string; readonly output: string }[],
): string[] {
  return consumed
    .filter(({ stack, output }) => stage.stacks[stack]?.Outputs?.[output] === undefined)
    .map(({ stack, output }) => `${stack}.${output}`);
}

/**
 * Environment variables of a function that should name a stage resource but do not resolve to one
 * (`name → resolved value`).
 */
export function unresolvedEnvironment(
  stage: StageTemplates,
  stack: string,
  variables: Readonly<Record<string, unknown>>,
  names: readonly string[],
): Record<string, string> {
  const problems: Record<string, string> = {};
  for (const name of names) {
    if (!(name in variables)) continue;
    if (!referencedResource(variables[name], stage, stack))
      problems[name] = resolve(variables[name], stage, stack);
  }
  return problems;
}

/** A Lambda function's environment variables, unresolved. */
export function functionEnvironment(stage: StageTemplates, fn: ResourceRef): Record<string, unknown> {
  const environment = resourceOf(stage, fn)?.Properties?.Environment;
  const variables = isRecord(environment) ? environment.Variables : undefined;
  return isRecord(variables) ? variables : {};
}

/** SSM parameters of the stage whose name matches an IAM-style glob. */
/**
 * Parameters the runtime writes and no stack owns, so no template names them: a rollout's record of a
 * rejected model archive, `<prefix>/rejected/<sha256>` (services/registry/rejections.ts).
 */
const RUNTIME_PARAMETER = /^\/[^*]+\/model\/rejected\/([0-9a-f]{64}|\*)$/;

/** The ARN of a runtime-written parameter (or glob), or undefined when `name` is not one. */
export function runtimeParameterArn(stage: StageTemplates, name: string): string | undefined {
  return RUNTIME_PARAMETER.test(name)
    ? `arn:${stage.partition}:ssm:${stage.region}:${stage.account}:parameter/${name.replace(/^\//, '')}`
    : undefined;
}

export function parametersNamed(stage: StageTemplates, glob: string): ResourceRef[] {
  const found: ResourceRef[] = [];
  for (const [stackName, template] of Object.entries(stage.stacks)) {
    for (const [id, resource] of Object.entries(template.Resources ?? {})) {
      const name = resource.Properties?.Name;
      if (resource.Type === 'AWS::SSM::Parameter' && typeof name === 'string' && iamMatches(glob, name)) {
        found.push({ stack: stackName, logicalId: id });
      }
    }
  }
  return found;
}

// ---- State machines ---------------------------------------------------------------------------

/** A state machine's definition with stage references resolved to symbols, parsed. */
export function stateMachineDefinition(stage: StageTemplates, machine: ResourceRef): Record<string, unknown> {
  const properties = resourceOf(stage, machine)?.Properties ?? {};
  const raw = properties.DefinitionString ?? JSON.stringify(properties.Definition ?? {});
  return JSON.parse(resolve(raw, stage, machine.stack)) as Record<string, unknown>;
}

/** One Task state's service call. */
export interface TaskCall {
  readonly state: string;
  /** `service:Action` as IAM names it. */
  readonly action: string;
  readonly parameters: Record<string, unknown>;
}

function pascal(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

/** The IAM action of a Task state's `Resource` (`arn:aws:states:::aws-sdk:sagemaker:describeEndpoint`). */
export function taskAction(resource: string): string | undefined {
  const sdk = /^arn:[^:]+:states:::aws-sdk:([a-z0-9]+):([A-Za-z0-9]+)(\.\w+)?$/.exec(resource);
  if (sdk) return `${sdk[1]}:${pascal(sdk[2]!)}`;
  const optimized = /^arn:[^:]+:states:::([a-z0-9]+):([A-Za-z0-9]+)(\.\w+)?$/.exec(resource);
  if (!optimized) return undefined;
  const [, service, api] = optimized as unknown as [string, string, string];
  if (service === 'lambda' && api === 'invoke') return 'lambda:InvokeFunction';
  return `${service}:${pascal(api)}`;
}

/** Every Task state's call, including those inside Parallel branches and Map iterators. */
export function taskCalls(definition: Record<string, unknown>): TaskCall[] {
  const calls: TaskCall[] = [];
  const states = isRecord(definition.States) ? definition.States : {};
  for (const [name, state] of Object.entries(states)) {
    if (!isRecord(state)) continue;
    if (state.Type === 'Task' && typeof state.Resource === 'string') {
      const parameters = isRecord(state.Parameters) ? state.Parameters : {};
      const action = taskAction(state.Resource);
      if (action) calls.push({ state: name, action, parameters });
      // A Task whose Resource is a function ARN invokes it directly (payloadResponseOnly).
      else if (parseSymbol(state.Resource))
        calls.push({
          state: name,
          action: 'lambda:InvokeFunction',
          parameters: { FunctionName: state.Resource },
        });
      else calls.push({ state: name, action: `unknown:${state.Resource}`, parameters });
    }
    for (const branch of toList(state.Branches).filter(isRecord)) calls.push(...taskCalls(branch));
    for (const nested of [state.Iterator, state.ItemProcessor].filter(isRecord))
      calls.push(...taskCalls(nested));
  }
  return calls;
}

// ---- Components -------------------------------------------------------------------------------

/** What runs a component's code: its role, environment and network placement. */
export interface Principal {
  readonly resource: ResourceRef;
  readonly role: ResourceRef | undefined;
  /** Environment variables, unresolved. */
  readonly environment: Record<string, unknown>;
  /** The VPC it runs in, when it is VPC-attached. */
  readonly vpc: ResourceRef | undefined;
}

function onlyVpc(stage: StageTemplates): ResourceRef | undefined {
  const vpcs = Object.entries(stage.stacks).flatMap(([stack, t]) =>
    Object.entries(t.Resources ?? {})
      .filter(([, r]) => r.Type === 'AWS::EC2::VPC')
      .map(([logicalId]) => ({ stack, logicalId })),
  );
  return vpcs.length === 1 ? vpcs[0] : undefined;
}

function vpcOfSubnet(stage: StageTemplates, subnet: unknown, stack: string): ResourceRef | undefined {
  const ref = referencedResource(subnet, stage, stack);
  const vpcId = ref ? resourceOf(stage, ref)?.Properties?.VpcId : undefined;
  return ref && vpcId !== undefined ? referencedResource(vpcId, stage, ref.stack) : undefined;
}

/** The principal of a Lambda function, Batch job definition, state machine or assumed role resource. */
export function principalOf(stage: StageTemplates, ref: ResourceRef): Principal {
  const resource = resourceOf(stage, ref);
  const p = resource?.Properties ?? {};
  const roleOf = (value: unknown): ResourceRef | undefined => referencedResource(value, stage, ref.stack);
  switch (resource?.Type) {
    case 'AWS::Lambda::Function': {
      const vpcConfig = isRecord(p.VpcConfig) ? p.VpcConfig : undefined;
      const subnets = toList(vpcConfig?.SubnetIds);
      return {
        resource: ref,
        role: roleOf(p.Role),
        environment: functionEnvironment(stage, ref),
        vpc: vpcConfig ? (vpcOfSubnet(stage, subnets[0], ref.stack) ?? onlyVpc(stage)) : undefined,
      };
    }
    case 'AWS::Batch::JobDefinition': {
      const container = isRecord(p.ContainerProperties) ? p.ContainerProperties : {};
      const environment = Object.fromEntries(
        toList(container.Environment)
          .filter(isRecord)
          .map((e) => [String(e.Name), e.Value]),
      );
      // Fargate jobs run in the compute environment's subnets, which are the stage's VPC.
      return { resource: ref, role: roleOf(container.JobRoleArn), environment, vpc: onlyVpc(stage) };
    }
    case 'AWS::StepFunctions::StateMachine':
      return { resource: ref, role: roleOf(p.RoleArn), environment: {}, vpc: undefined };
    case 'AWS::IAM::Role':
      // A role that code outside the stage assumes (a pipeline step, a CLI): it is its own principal.
      return { resource: ref, role: ref, environment: {}, vpc: undefined };
    default:
      throw new Error(
        `${ref.stack}/${ref.logicalId} (${resource?.Type ?? 'missing'}) is no function, job or state machine`,
      );
  }
}

/** A resolver of one resource kind: the ARN forms of each resource the kind stands for, or a problem. */
type KindResolver = (
  match: RegExpExecArray,
  principal: Principal,
  stage: StageTemplates,
) => string[][] | string;

function envResource(variable: string, suffix = ''): KindResolver {
  return (_match, principal, stage) => {
    const value = principal.environment[variable];
    if (value === undefined) return `no ${variable} in the environment`;
    const ref = referencedResource(value, stage, principal.resource.stack);
    if (!ref)
      return `${variable}=${resolve(value, stage, principal.resource.stack)} names no resource of the stage`;
    return [arnForms(stage, ref).map((arn) => `${arn}${suffix}`)];
  };
}

function bucketKind(variable: string): KindResolver {
  return (match, principal, stage) => {
    const bucket = envResource(variable)(match, principal, stage);
    if (typeof bucket === 'string') return bucket;
    return match[1] ? [bucket[0]!.map((arn) => `${arn}/${match[1]}`)] : bucket;
  };
}

/**
 * Resource kinds of test/iam/recorded-calls.json and how each resolves against a component's
 * environment. A new kind of resource is one entry here.
 */
export const RESOURCE_KINDS: readonly { readonly pattern: RegExp; readonly resolve: KindResolver }[] = [
  { pattern: /^table$/, resolve: envResource('TABLE_NAME') },
  {
    pattern: /^table-index:(.+)$/,
    resolve: (m, p, s) => envResource('TABLE_NAME', `/index/${m[1]}`)(m, p, s),
  },
  { pattern: /^endpoint$/, resolve: envResource('ENDPOINT_NAME') },
  { pattern: /^dlq$/, resolve: envResource('DLQ_URL') },
  { pattern: /^alert-topic$/, resolve: envResource('ALERT_TOPIC_ARN') },
  { pattern: /^batch-bucket(?::(.+))?$/, resolve: bucketKind('BATCH_BUCKET') },
  { pattern: /^analytics-bucket(?::(.+))?$/, resolve: bucketKind('ANALYTICS_BUCKET') },
  {
    pattern: /^parameter:(.+)$/,
    resolve: (m, principal, stage) => {
      const prefix = principal.environment.MODEL_PARAMETER_PREFIX;
      if (prefix === undefined) return 'no MODEL_PARAMETER_PREFIX in the environment';
      const glob = `${resolve(prefix, stage, principal.resource.stack)}/${m[1]}`;
      const parameters = parametersNamed(stage, glob);
      const runtime = runtimeParameterArn(stage, glob);
      if (parameters.length === 0 && runtime) return [[runtime]];
      return parameters.length > 0
        ? parameters.map((ref) => arnForms(stage, ref))
        : `no parameter of the stage is named ${glob}`;
    },
  },
  {
    // Alarm names reach the rollout judge in the payload of the state machine Task that invokes it.
    pattern: /^alarm$/,
    resolve: (_m, principal, stage) => {
      const alarms = alarmsInInvokingPayloads(stage, principal.resource);
      return alarms.length > 0
        ? alarms.map((ref) => arnForms(stage, ref))
        : 'no state machine of the stage passes alarm names to this function';
    },
  },
  { pattern: /^\*$/, resolve: () => [['*']] },
];

/** Alarms named in `canaryAlarmNames` of every Task state that invokes `fn` directly. */
function alarmsInInvokingPayloads(stage: StageTemplates, fn: ResourceRef): ResourceRef[] {
  const found: ResourceRef[] = [];
  const visit = (definition: Record<string, unknown>): void => {
    const states = isRecord(definition.States) ? definition.States : {};
    for (const state of Object.values(states).filter(isRecord)) {
      const target = typeof state.Resource === 'string' ? parseSymbol(state.Resource) : undefined;
      if (target?.stack === fn.stack && target.logicalId === fn.logicalId && isRecord(state.Parameters)) {
        for (const name of toList(state.Parameters.canaryAlarmNames)) {
          const ref = typeof name === 'string' ? parseSymbol(name) : undefined;
          if (ref && resourceOf(stage, ref)?.Type === 'AWS::CloudWatch::Alarm') found.push(ref);
        }
      }
      for (const nested of [...toList(state.Branches), state.Iterator, state.ItemProcessor].filter(isRecord))
        visit(nested);
    }
  };
  for (const [stack, template] of Object.entries(stage.stacks)) {
    for (const [logicalId, resource] of Object.entries(template.Resources ?? {})) {
      if (resource.Type === 'AWS::StepFunctions::StateMachine')
        visit(stateMachineDefinition(stage, { stack, logicalId }));
    }
  }
  return found;
}

/** The permissions one recorded call needs from a principal, or the problems that keep it from being checked. */
export function requiredPermissions(
  call: { readonly action: string; readonly resourceKind: string },
  principal: Principal,
  stage: StageTemplates,
  reason: string,
): { readonly required: RequiredPermission[]; readonly problems: string[] } {
  for (const kind of RESOURCE_KINDS) {
    const match = kind.pattern.exec(call.resourceKind);
    if (!match) continue;
    const targets = kind.resolve(match, principal, stage);
    if (typeof targets === 'string') return { required: [], problems: [`${reason}: ${targets}`] };
    const required = iamActionsForCall(call.action).flatMap(({ action, on }) =>
      targets.map((forms) => ({
        action,
        // ListBucket is granted on the bucket; the key part of the kind is its prefix condition.
        resource: on === 'bucket' ? forms.map(bucketArnOf) : forms,
        reason,
      })),
    );
    return { required, problems: [] };
  }
  return { required: [], problems: [`${reason}: resource kind ${call.resourceKind} has no resolver`] };
}

/** The bucket part of an object ARN (`{stack/Bucket.Arn}/pending/*` → `{stack/Bucket.Arn}`). */
export function bucketArnOf(arn: string): string {
  if (arn.startsWith('{')) return arn.slice(0, arn.indexOf('}') + 1);
  return arn.replace(/^(arn:[^:]+:s3:::[^/]+)\/.*$/, '$1');
}

/** Parameter of each service's Task that names the resource it acts on. */
const TASK_TARGET_PARAMETERS: Readonly<Record<string, readonly string[]>> = {
  sagemaker: ['EndpointName'],
  ssm: ['Name'],
  lambda: ['FunctionName'],
  sns: ['TopicArn'],
  batch: ['JobQueue', 'JobDefinition'],
  states: ['StateMachineArn'],
  sqs: ['QueueUrl'],
  dynamodb: ['TableName'],
  s3: ['Bucket'],
};

/** The permissions a state machine's Task needs, or the problems that keep it from being checked. */
export function taskPermissions(
  task: TaskCall,
  stage: StageTemplates,
  stack: string,
): { readonly required: RequiredPermission[]; readonly problems: string[] } {
  const service = task.action.split(':')[0]!;
  const names = TASK_TARGET_PARAMETERS[service];
  const reason = `state ${task.state}`;
  if (!names) return { required: [], problems: [`${reason}: no target parameter known for ${task.action}`] };
  const required: RequiredPermission[] = [];
  const problems: string[] = [];
  for (const name of names) {
    if (`${name}.$` in task.parameters) {
      problems.push(`${reason}: ${name} is taken from the state, so its target cannot be proven`);
      continue;
    }
    const value = task.parameters[name];
    if (typeof value !== 'string') {
      problems.push(`${reason}: no ${name}`);
      continue;
    }
    const parsed = parseSymbol(value);
    if (parsed && resourceOf(stage, parsed)) {
      const forms = arnForms(stage, parsed);
      const key = typeof task.parameters.Key === 'string' ? task.parameters.Key : '*';
      for (const { action, on } of iamActionsForCall(task.action)) {
        const resource = on === 'object' ? forms.map((arn) => `${arn}/${key}`) : forms;
        required.push({ action, resource, reason });
      }
    } else if (service === 'ssm') {
      const parameters = parametersNamed(stage, value);
      const runtime = runtimeParameterArn(stage, value);
      const forms =
        parameters.length > 0 ? parameters.flatMap((ref) => arnForms(stage, ref)) : runtime ? [runtime] : [];
      if (forms.length === 0) problems.push(`${reason}: parameter ${value} is not a parameter of the stage`);
      else required.push({ action: task.action, resource: forms, reason });
    } else {
      problems.push(`${reason}: ${name}=${value} names no resource of the stage (${stack})`);
    }
  }
  return { required, problems };
}
