/**
 * Pure checks of what AWS services do on the stage's behalf, read from the templates: an alarm
 * publishing to its topic, a rule invoking its target, S3 delivering access logs, CloudWatch Logs
 * writing to a KMS-encrypted log group, SageMaker and Fargate pulling images and model data. Each
 * call is proven against the resource's policy (topic, queue, bucket, key policy, Lambda
 * permission) or against the role the service assumes. The checks find these resources in the
 * templates, so a component added later is checked as soon as it is in the stage.
 */
import {
  arnForms,
  iamMatches,
  provePermission,
  referencedResource,
  resolve,
  resourceOf,
  roleStatements,
  symbol,
  type CfnResource,
  type RequiredPermission,
  type ResourceRef,
  type StageTemplates,
} from './checker';

/** One call an AWS service makes, to prove against a resource policy. */
export interface ServiceCall {
  /** Service principal, e.g. `cloudwatch.amazonaws.com`. */
  readonly service: string;
  /** `service:Action`. */
  readonly action: string;
  /** The resource ARN as the policy names it (`*` for key policies). */
  readonly resource: string;
  /** Request context the service sends (aws:SourceArn, aws:SourceAccount, encryption context). */
  readonly context: Readonly<Record<string, string>>;
  /** What needs it, for messages. */
  readonly reason: string;
}

interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect?: string;
  readonly Principal?: unknown;
  readonly Action?: unknown;
  readonly Resource?: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
}

const list = (value: unknown): unknown[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

function eachResource(stage: StageTemplates, type: string): [ResourceRef, CfnResource][] {
  return Object.entries(stage.stacks).flatMap(([stack, template]) =>
    Object.entries(template.Resources ?? {})
      .filter(([, r]) => r.Type === type)
      .map(([logicalId, r]): [ResourceRef, CfnResource] => [{ stack, logicalId }, r]),
  );
}

const label = (ref: ResourceRef): string => `${ref.stack}/${ref.logicalId}`;

/** What `{Ref}` of a resource resolves to (a topic's ARN, a bucket's name). */
const refOf = (stage: StageTemplates, ref: ResourceRef): string =>
  resolve({ Ref: ref.logicalId }, stage, ref.stack);

function principalServices(principal: unknown): string[] {
  if (principal === '*') return ['*'];
  const p = principal as { Service?: unknown; AWS?: unknown } | undefined;
  return [...list(p?.Service).map(String), ...(list(p?.AWS).includes('*') ? ['*'] : [])];
}

/** Whether a statement's conditions hold for the call (unknown keys do not hold). */
function conditionsHold(
  condition: PolicyStatement['Condition'],
  context: Readonly<Record<string, string>>,
  stage: StageTemplates,
  stack: string,
): boolean {
  for (const [operator, entries] of Object.entries(condition ?? {})) {
    for (const [key, expected] of Object.entries(entries)) {
      const values = list(expected).map((v) => resolve(v, stage, stack));
      const ifExists = operator.endsWith('IfExists');
      const op = operator.replace(/IfExists$/, '');
      const actual = key === 'aws:SecureTransport' ? 'true' : context[key];
      if (actual === undefined) {
        if (ifExists) continue;
        return false;
      }
      const like = (pattern: string) => iamMatches(pattern, actual);
      const ok =
        op === 'StringEquals' || op === 'ArnEquals' || op === 'Bool'
          ? values.includes(actual)
          : op === 'StringLike' || op === 'ArnLike'
            ? values.some(like)
            : op === 'StringNotEquals'
              ? !values.includes(actual)
              : false;
      if (!ok) return false;
    }
  }
  return true;
}

/** The policy statements that apply to a resource, from the template resource that holds them. */
function resourcePolicy(
  stage: StageTemplates,
  target: ResourceRef,
): { statements: PolicyStatement[]; stack: string } | undefined {
  const resource = resourceOf(stage, target)!;
  if (resource.Type === 'AWS::KMS::Key') {
    const document = resource.Properties?.KeyPolicy as { Statement?: PolicyStatement[] } | undefined;
    return { statements: document?.Statement ?? [], stack: target.stack };
  }
  const holder: Record<string, [string, string]> = {
    'AWS::SNS::Topic': ['AWS::SNS::TopicPolicy', 'Topics'],
    'AWS::SQS::Queue': ['AWS::SQS::QueuePolicy', 'Queues'],
    'AWS::S3::Bucket': ['AWS::S3::BucketPolicy', 'Bucket'],
  };
  const [type, property] = holder[resource.Type] ?? [];
  if (!type) return undefined;
  const targetRef = refOf(stage, target);
  for (const [ref, policy] of eachResource(stage, type)) {
    const names = list(policy.Properties?.[property!]).map((v) => resolve(v, stage, ref.stack));
    if (names.includes(targetRef)) {
      const document = policy.Properties?.PolicyDocument as { Statement?: PolicyStatement[] };
      return { statements: document.Statement ?? [], stack: ref.stack };
    }
  }
  return undefined;
}

/**
 * Why the resource policy of `target` does not let `call.service` make the call, or undefined. A
 * topic or queue without a policy has its service's default, which only the account's own IAM
 * principals satisfy, so a service call on it is not proven.
 */
export function proveServiceCall(
  stage: StageTemplates,
  target: ResourceRef,
  call: ServiceCall,
): string | undefined {
  const policy = resourcePolicy(stage, target);
  const where = `${label(target)} (${resourceOf(stage, target)!.Type})`;
  if (!policy)
    return `${call.action} by ${call.service} on ${where}: it has no resource policy (${call.reason})`;
  const applies = (st: PolicyStatement): boolean =>
    principalServices(st.Principal).some((p) => p === '*' || p === call.service) &&
    list(st.Action).some((a) => iamMatches(String(a), call.action, true)) &&
    list(st.Resource).some((r) => iamMatches(resolve(r, stage, policy.stack), call.resource)) &&
    conditionsHold(st.Condition, call.context, stage, policy.stack);
  const denied = policy.statements.find((st) => st.Effect === 'Deny' && applies(st));
  if (denied)
    return `${call.action} by ${call.service} on ${where} is denied by ${denied.Sid ?? 'a statement'} (${call.reason})`;
  if (policy.statements.some((st) => st.Effect === 'Allow' && applies(st))) return undefined;
  return `${call.action} by ${call.service} on ${where} is not allowed by its policy (${call.reason})`;
}

/** The KMS key of an encrypted resource property, if it is a key of the stage. */
function keyOf(stage: StageTemplates, ref: ResourceRef, property: string): ResourceRef | undefined {
  const value = resourceOf(stage, ref)?.Properties?.[property];
  return value === undefined ? undefined : referencedResource(value, stage, ref.stack);
}

/** Proves a service's use of a key for a resource: the data key for writing, decrypt for reading. */
function proveKeyUse(
  stage: StageTemplates,
  key: ResourceRef | undefined,
  call: Omit<ServiceCall, 'action' | 'resource'>,
  actions: readonly string[],
): string[] {
  if (!key) return [];
  return actions
    .map((action) => proveServiceCall(stage, key, { ...call, action, resource: '*' }))
    .filter((p): p is string => p !== undefined);
}

/** CloudWatch alarm actions → SNS topics (topic policy and the topic's key). */
export function alarmDeliveryProblems(stage: StageTemplates): string[] {
  const problems: string[] = [];
  for (const [alarm, resource] of eachResource(stage, 'AWS::CloudWatch::Alarm')) {
    const actions = ['AlarmActions', 'OKActions', 'InsufficientDataActions'].flatMap((p) =>
      list(resource.Properties?.[p]),
    );
    for (const action of actions) {
      const topic = referencedResource(action, stage, alarm.stack);
      if (!topic || resourceOf(stage, topic)!.Type !== 'AWS::SNS::Topic') continue;
      const call = {
        service: 'cloudwatch.amazonaws.com',
        context: { 'aws:SourceAccount': stage.account, 'aws:SourceArn': arnForms(stage, alarm)[1]! },
        reason: `alarm ${label(alarm)} notifies ${label(topic)}`,
      };
      const published = proveServiceCall(stage, topic, {
        ...call,
        action: 'sns:Publish',
        resource: refOf(stage, topic),
      });
      if (published) problems.push(published);
      problems.push(
        ...proveKeyUse(stage, keyOf(stage, topic, 'KmsMasterKeyId'), call, [
          'kms:Decrypt',
          'kms:GenerateDataKey',
        ]),
      );
    }
  }
  return problems;
}

/** EventBridge rules → their targets and dead-letter queues. */
export function ruleTargetProblems(stage: StageTemplates): string[] {
  const problems: string[] = [];
  for (const [rule, resource] of eachResource(stage, 'AWS::Events::Rule')) {
    const ruleArn = symbol(rule, 'Arn');
    const call = {
      service: 'events.amazonaws.com',
      context: { 'aws:SourceAccount': stage.account, 'aws:SourceArn': ruleArn },
    };
    for (const target of list(resource.Properties?.Targets) as Record<string, unknown>[]) {
      const targetRef = referencedResource(target.Arn, stage, rule.stack);
      const reason = `rule ${label(rule)} targets ${targetRef ? label(targetRef) : resolve(target.Arn, stage, rule.stack)}`;
      if (!targetRef) {
        problems.push(`${reason}: the target is not a resource of the stage`);
        continue;
      }
      const type = resourceOf(stage, targetRef)!.Type;
      if (type === 'AWS::Lambda::Function') {
        const permitted = eachResource(stage, 'AWS::Lambda::Permission').some(
          ([p, r]) =>
            r.Properties?.Principal === call.service &&
            iamMatches(String(r.Properties?.Action), 'lambda:InvokeFunction', true) &&
            referencedResource(r.Properties?.FunctionName, stage, p.stack)?.logicalId ===
              targetRef.logicalId &&
            resolve(r.Properties?.SourceArn, stage, p.stack) === ruleArn,
        );
        if (!permitted)
          problems.push(`${reason}: no Lambda permission lets events.amazonaws.com invoke it from this rule`);
      } else if (type === 'AWS::SNS::Topic') {
        const p = proveServiceCall(stage, targetRef, {
          ...call,
          action: 'sns:Publish',
          resource: refOf(stage, targetRef),
          reason,
        });
        if (p) problems.push(p);
        problems.push(
          ...proveKeyUse(stage, keyOf(stage, targetRef, 'KmsMasterKeyId'), { ...call, reason }, [
            'kms:Decrypt',
            'kms:GenerateDataKey',
          ]),
        );
      } else {
        const role = referencedResource(target.RoleArn, stage, rule.stack);
        const action: Record<string, RequiredPermission['action']> = {
          'AWS::StepFunctions::StateMachine': 'states:StartExecution',
          'AWS::Batch::JobQueue': 'batch:SubmitJob',
        };
        if (!role || !action[type]) {
          problems.push(`${reason}: a ${type} target needs a role that events.amazonaws.com assumes`);
          continue;
        }
        problems.push(...trustProblems(stage, role, call.service, reason));
        const p = provePermission(roleStatements(stage, role), {
          action: action[type],
          resource: arnForms(stage, targetRef),
          reason,
        });
        if (p) problems.push(p);
      }
      const dlq = (target.DeadLetterConfig as { Arn?: unknown } | undefined)?.Arn;
      const queue = dlq === undefined ? undefined : referencedResource(dlq, stage, rule.stack);
      if (queue) {
        const dlqReason = `rule ${label(rule)} dead-letters to ${label(queue)}`;
        const p = proveServiceCall(stage, queue, {
          ...call,
          action: 'sqs:SendMessage',
          resource: symbol(queue, 'Arn'),
          reason: dlqReason,
        });
        if (p) problems.push(p);
        problems.push(
          ...proveKeyUse(stage, keyOf(stage, queue, 'KmsMasterKeyId'), { ...call, reason: dlqReason }, [
            'kms:Decrypt',
            'kms:GenerateDataKey',
          ]),
        );
      }
    }
  }
  return problems;
}

function trustProblems(stage: StageTemplates, role: ResourceRef, service: string, reason: string): string[] {
  const trust = resourceOf(stage, role)!.Properties?.AssumeRolePolicyDocument as {
    Statement?: PolicyStatement[];
  };
  const trusted = (trust?.Statement ?? []).some(
    (st) =>
      st.Effect === 'Allow' &&
      principalServices(st.Principal).includes(service) &&
      list(st.Action).some((a) => iamMatches(String(a), 'sts:AssumeRole', true)),
  );
  return trusted ? [] : [`${label(role)} cannot be assumed by ${service} (${reason})`];
}

/** S3 server access logs → the destination bucket's policy. */
export function accessLogDeliveryProblems(stage: StageTemplates): string[] {
  const problems: string[] = [];
  for (const [bucket, resource] of eachResource(stage, 'AWS::S3::Bucket')) {
    const logging = resource.Properties?.LoggingConfiguration as Record<string, unknown> | undefined;
    if (!logging) continue;
    const destination = referencedResource(logging.DestinationBucketName, stage, bucket.stack);
    const reason = `${label(bucket)} delivers access logs`;
    if (!destination) {
      problems.push(`${reason} to a bucket that is not in the stage`);
      continue;
    }
    const prefix = resolve(logging.LogFilePrefix ?? '', stage, bucket.stack);
    const p = proveServiceCall(stage, destination, {
      service: 'logging.s3.amazonaws.com',
      action: 's3:PutObject',
      resource: `${symbol(destination, 'Arn')}/${prefix}2026-01-01-00-00-00-0123456789ABCDEF`,
      context: { 'aws:SourceAccount': stage.account, 'aws:SourceArn': symbol(bucket, 'Arn') },
      reason,
    });
    if (p) problems.push(p);
  }
  return problems;
}

/** CloudWatch Logs → the KMS key of each encrypted log group. */
export function logGroupKeyProblems(stage: StageTemplates): string[] {
  return eachResource(stage, 'AWS::Logs::LogGroup').flatMap(([group, resource]) => {
    const key = keyOf(stage, group, 'KmsKeyId');
    const name = resource.Properties?.LogGroupName;
    const groupName = name === undefined ? symbol(group, 'Ref') : resolve(name, stage, group.stack);
    return proveKeyUse(
      stage,
      key,
      {
        service: `logs.${stage.region}.amazonaws.com`,
        context: {
          'kms:EncryptionContext:aws:logs:arn': `arn:${stage.partition}:logs:${stage.region}:${stage.account}:log-group:${groupName}`,
        },
        reason: `CloudWatch Logs writes ${label(group)}`,
      },
      ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey'],
    );
  });
}

/** ECR pulls of `image` (an ECR image URI) by `role`. */
function imagePullPermissions(image: string, reason: string, partition: string): RequiredPermission[] {
  const match = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/([^:@]+)/.exec(image);
  if (!match) return [];
  const repository = `arn:${partition}:ecr:${match[2]}:${match[1]}:repository/${match[3]}`;
  return [
    { action: 'ecr:GetAuthorizationToken', resource: ['*'], reason },
    { action: 'ecr:BatchGetImage', resource: [repository], reason },
    { action: 'ecr:GetDownloadUrlForLayer', resource: [repository], reason },
  ];
}

function proveRole(
  stage: StageTemplates,
  role: ResourceRef | undefined,
  required: RequiredPermission[],
  owner: string,
): string[] {
  if (!role) return [`${owner} has no role in the stage`];
  const statements = roleStatements(stage, role);
  return required.map((r) => provePermission(statements, r)).filter((p): p is string => p !== undefined);
}

/** SageMaker models → the image in ECR and the model data in S3, with their execution role. */
export function sageMakerModelProblems(stage: StageTemplates): string[] {
  return eachResource(stage, 'AWS::SageMaker::Model').flatMap(([model, resource]) => {
    const role = referencedResource(resource.Properties?.ExecutionRoleArn, stage, model.stack);
    const containers = [
      resource.Properties?.PrimaryContainer,
      ...list(resource.Properties?.Containers),
    ].filter((c): c is Record<string, unknown> => c !== undefined);
    const required = containers.flatMap((c) => {
      const reason = `SageMaker starts ${label(model)}`;
      const image = resolve(c.Image, stage, model.stack).replace('{unresolved', '');
      const data = c.ModelDataUrl === undefined ? undefined : resolve(c.ModelDataUrl, stage, model.stack);
      const s3 = data ? /^s3:\/\/([^/]+)\/(.+)$/.exec(data) : null;
      return [
        ...imagePullPermissions(image, reason, stage.partition),
        ...(s3
          ? [{ action: 's3:GetObject', resource: [`arn:${stage.partition}:s3:::${s3[1]}/${s3[2]}`], reason }]
          : []),
      ];
    });
    return proveRole(stage, role, required, label(model)).map((p) => `${label(model)}: ${p}`);
  });
}

/** AWS Batch on Fargate → the image in ECR and the job's log group, with the execution role. */
export function batchJobProblems(stage: StageTemplates): string[] {
  return eachResource(stage, 'AWS::Batch::JobDefinition').flatMap(([job, resource]) => {
    const container = resource.Properties?.ContainerProperties as Record<string, unknown> | undefined;
    if (!container) return [];
    const role = referencedResource(container.ExecutionRoleArn, stage, job.stack);
    const reason = `Fargate starts ${label(job)}`;
    const required = imagePullPermissions(
      resolve(container.Image, stage, job.stack),
      reason,
      stage.partition,
    );
    const logging = container.LogConfiguration as
      { LogDriver?: string; Options?: Record<string, unknown> } | undefined;
    const group = logging?.Options?.['awslogs-group'];
    if (logging?.LogDriver === 'awslogs' && group !== undefined) {
      const name = resolve(group, stage, job.stack);
      const stream = `arn:${stage.partition}:logs:${stage.region}:${stage.account}:log-group:${name}:log-stream:job/default/0123`;
      // A log group's Arn attribute ends in `:*`, so a grant on it covers the group's streams.
      const groupRef = referencedResource(group, stage, job.stack);
      const forms = groupRef ? [stream, symbol(groupRef, 'Arn')] : [stream];
      required.push(
        { action: 'logs:CreateLogStream', resource: forms, reason },
        { action: 'logs:PutLogEvents', resource: forms, reason },
      );
    }
    return proveRole(stage, role, required, label(job)).map((p) => `${label(job)}: ${p}`);
  });
}

/** Every service-to-service call of the stage that the templates must allow. */
export function serviceAccessProblems(stage: StageTemplates): string[] {
  return [
    ...alarmDeliveryProblems(stage),
    ...ruleTargetProblems(stage),
    ...accessLogDeliveryProblems(stage),
    ...logGroupKeyProblems(stage),
    ...sageMakerModelProblems(stage),
    ...batchJobProblems(stage),
  ];
}
