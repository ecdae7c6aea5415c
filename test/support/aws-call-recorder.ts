import { AsyncLocalStorage } from 'node:async_hooks';
import * as path from 'node:path';

/**
 * Records every AWS SDK v3 call the runtime code makes during the tests, attributed to the
 * component (function, job) that made it, so test/iam can prove each call is allowed and routable.
 *
 * Attribution: the first stack frame inside a component's entry file (V8 appends the awaiting async
 * functions to the stack, so a call made deep in an adapter still shows the handler that awaited it).
 * Code that breaks the async chain can run inside {@link recordAs} instead.
 */

/** Component names, as used in test/iam/recorded-calls.json and the coverage tables. */
export type Component =
  | 'predict'
  | 'get-prediction'
  | 'feedback'
  | 'feedback-quality'
  | 'stream-consumer'
  | 'drift'
  | 'batch-scorer'
  | 'rollout-judge'
  | 'analytics-export'
  | 'registry-guard'
  | 'converge'
  | 'smoke'
  | 'traffic-source';

/** Entry files (relative to the repository root) that identify each component on a stack. */
export const COMPONENT_ENTRIES: Readonly<Record<string, Component>> = {
  'services/inference/predict-handler.ts': 'predict',
  'services/inference/get-prediction-handler.ts': 'get-prediction',
  'services/inference/feedback-handler.ts': 'feedback',
  'services/quality/handler.ts': 'feedback-quality',
  'services/stream/consumer-handler.ts': 'stream-consumer',
  'services/drift/handler.ts': 'drift',
  'services/batch/main.ts': 'batch-scorer',
  'services/batch/scorer.ts': 'batch-scorer',
  'services/batch/model-loader.ts': 'batch-scorer',
  'services/rollout/judge-handler.ts': 'rollout-judge',
  'services/analytics-export/handler.ts': 'analytics-export',
  'services/registry/guard-main.ts': 'registry-guard',
  'services/registry/converge-main.ts': 'converge',
  'services/smoke/main.ts': 'smoke',
  'services/traffic/handler.ts': 'traffic-source',
};

/** One AWS API call as the SDK saw it. */
export interface RecordedCall {
  readonly component: Component;
  /** IAM service prefix (`dynamodb`, `sagemaker`, `ssm` ...). */
  readonly service: string;
  /** API action (`PutItem`, `InvokeEndpoint` ...). */
  readonly action: string;
  /** Resource names taken from the input (`TableName`, `EndpointName`, `Name`, `QueueUrl` ...). */
  readonly hints: Readonly<Record<string, string>>;
}

/** A call reduced to what IAM coverage needs: which action on which resource of the stage. */
export interface CallKind {
  /** `service:Action`, e.g. `dynamodb:PutItem`. */
  readonly action: string;
  /** Which stage resource: `table`, `table-index:modelVersionIndex`, `parameter:active-version` ... */
  readonly resourceKind: string;
}

/** SDK `serviceId` → IAM prefix. */
const IAM_PREFIX: Readonly<Record<string, string>> = {
  DynamoDB: 'dynamodb',
  'SageMaker Runtime': 'sagemaker',
  SageMaker: 'sagemaker',
  SSM: 'ssm',
  SQS: 'sqs',
  S3: 's3',
  CloudWatch: 'cloudwatch',
  Kinesis: 'kinesis',
  SNS: 'sns',
  SFN: 'states',
};

/** lib-dynamodb document commands → the DynamoDB API action they send. */
const DOCUMENT_COMMANDS: Readonly<Record<string, string>> = {
  Put: 'PutItem',
  Get: 'GetItem',
  Update: 'UpdateItem',
  Delete: 'DeleteItem',
  Query: 'Query',
  Scan: 'Scan',
  BatchGet: 'BatchGetItem',
  BatchWrite: 'BatchWriteItem',
  TransactGet: 'TransactGetItems',
  TransactWrite: 'TransactWriteItems',
  ExecuteStatement: 'ExecuteStatement',
};

/** Input fields that name a resource. */
const HINT_FIELDS = [
  'TableName',
  'IndexName',
  'EndpointName',
  'Name',
  'Names',
  'QueueUrl',
  'Bucket',
  'Key',
  'CopySource',
  'IfMatch',
  'Prefix',
  'StreamName',
  'StreamARN',
  'Namespace',
  'AlarmNames',
  'TopicArn',
  'stateMachineArn',
] as const;

/** Environment variables that carry a resource name, and the resource kind they name. */
export const RESOURCE_ENV_VARS: Readonly<Record<string, string>> = {
  TABLE_NAME: 'table',
  ENDPOINT_NAME: 'endpoint',
  DLQ_URL: 'dlq',
  BATCH_BUCKET: 'batch-bucket',
  ANALYTICS_BUCKET: 'analytics-bucket',
  ALERT_TOPIC_ARN: 'alert-topic',
  METRIC_NAMESPACE: 'metric-namespace',
};

const componentScope = new AsyncLocalStorage<Component>();

/** Runs `fn` with every AWS call inside it attributed to `component` (for code whose stack loses the entry file). */
export function recordAs<T>(component: Component, fn: () => T): T {
  return componentScope.run(component, fn);
}

/** The component whose entry file is the innermost one on `stack`, if any. */
export function componentFromStack(stack: string, root: string): Component | undefined {
  for (const line of stack.split('\n')) {
    const match = /\(?((?:[A-Za-z]:)?[^\s()]+?\.[cm]?[jt]s):\d+:\d+\)?\s*$/.exec(line);
    if (!match) continue;
    const relative = path.relative(root, match[1]!).split(path.sep).join('/');
    const component = COMPONENT_ENTRIES[relative];
    if (component) return component;
  }
  return undefined;
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value.join(',');
  return undefined;
}

/** Resource hints from an SDK command input. */
export function hintsOf(input: unknown): Record<string, string> {
  if (typeof input !== 'object' || input === null) return {};
  const record = input as Record<string, unknown>;
  const hints: Record<string, string> = {};
  for (const field of HINT_FIELDS) {
    const value = text(record[field]);
    if (value !== undefined) hints[field] = value;
  }
  return hints;
}

/** The API action a command sends (`PutCommand` of lib-dynamodb → `PutItem`). */
export function actionOf(commandName: string, service: string): string {
  const base = commandName.replace(/Command$/, '');
  return service === 'dynamodb' ? (DOCUMENT_COMMANDS[base] ?? base) : base;
}

/**
 * Which stage resource a parameter name is, given the registry layout `<prefix>/active-version`,
 * `<prefix>/versions/<v>`, `<prefix>/input-schema`.
 */
function parameterKind(name: string, prefix: string | undefined): string {
  const rest = prefix && name.startsWith(`${prefix}/`) ? name.slice(prefix.length + 1) : name;
  if (/(^|\/)active-version$/.test(rest)) return 'parameter:active-version';
  if (/(^|\/)input-schema$/.test(rest)) return 'parameter:input-schema';
  const version = /(^|\/)versions\/[^/]+(\/.*)?$/.exec(rest);
  if (version) return `parameter:versions/*${version[2] ?? ''}`;
  if (/(^|\/)rejected\/[0-9a-f]{64}$/.test(rest)) return 'parameter:rejected/*';
  return `parameter:${rest}`;
}

function envKind(value: string, env: Readonly<Record<string, string | undefined>>): string | undefined {
  for (const [name, kind] of Object.entries(RESOURCE_ENV_VARS)) {
    if (env[name] !== undefined && env[name] === value) return kind;
  }
  return undefined;
}

/**
 * Names the stage resource a call targets, from its hints and the environment variable that carried
 * the name (falling back to the one resource of that type a component has when no variable matches,
 * as when a test passes the name to an adapter directly).
 */
export function resourceKindOf(
  call: Pick<RecordedCall, 'service' | 'action' | 'hints'>,
  env: Readonly<Record<string, string | undefined>>,
): string {
  const { hints } = call;
  switch (call.service) {
    case 'dynamodb':
      return hints.IndexName ? `table-index:${hints.IndexName}` : 'table';
    case 'sagemaker':
      return 'endpoint';
    case 'ssm':
      return parameterKind(hints.Name ?? '', env.MODEL_PARAMETER_PREFIX);
    case 'sqs':
      return (hints.QueueUrl && envKind(hints.QueueUrl, env)) ?? 'dlq';
    case 's3': {
      const bucket = hints.Bucket ?? '';
      // A model version's archive, read by the batch scorer from where the registry records it.
      if (/\.tar\.gz$/.test(hints.Key ?? '') && envKind(bucket, env) === undefined) return 'model-archive';
      const kind = envKind(bucket, env) ?? (/analytics/.test(bucket) ? 'analytics-bucket' : 'batch-bucket');
      if (!hints.Key && hints.Prefix === undefined) return kind;
      const key = hints.Key ?? hints.Prefix ?? '';
      const analyticsPrefix = env.ANALYTICS_PREFIX ?? 'analytics/predictions/';
      const area = kind === 'analytics-bucket' ? analyticsPrefix.replace(/\/$/, '') : key.split('/')[0];
      return `${kind}:${area}/*`;
    }
    case 'cloudwatch':
      return call.action === 'DescribeAlarms' ? 'alarm' : '*';
    case 'sns':
      return 'alert-topic';
    default:
      return '*';
  }
}

/** Distinct {@link CallKind}s per component, sorted, for the committed file. */
export function summarize(
  calls: readonly (RecordedCall & { readonly resourceKind: string })[],
): Record<string, CallKind[]> {
  const byComponent: Record<string, Map<string, CallKind>> = {};
  for (const call of calls) {
    const kind: CallKind = { action: `${call.service}:${call.action}`, resourceKind: call.resourceKind };
    (byComponent[call.component] ??= new Map()).set(`${kind.action} ${kind.resourceKind}`, kind);
  }
  return Object.fromEntries(
    Object.keys(byComponent)
      .sort()
      .map((component) => [
        component,
        [...byComponent[component]!.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, k]) => k),
      ]),
  );
}

/** Calls in `recorded` that `committed` does not list, as `component action resourceKind` lines. */
export function unrecordedCalls(
  recorded: Readonly<Record<string, readonly CallKind[]>>,
  committed: Readonly<Record<string, readonly CallKind[]>>,
): string[] {
  const missing: string[] = [];
  for (const [component, kinds] of Object.entries(recorded)) {
    const known = new Set((committed[component] ?? []).map((k) => `${k.action} ${k.resourceKind}`));
    for (const kind of kinds) {
      const key = `${kind.action} ${kind.resourceKind}`;
      if (!known.has(key)) missing.push(`${component} ${key}`);
    }
  }
  return missing;
}

/** A CopyObject also reads its source (`bucket/key`): the hints of that read. */
function copySourceHints(
  service: string,
  action: string,
  hints: Readonly<Record<string, string>>,
): Record<string, string> | undefined {
  if (service !== 's3' || action !== 'CopyObject' || !hints.CopySource) return undefined;
  const source = decodeURIComponent(hints.CopySource.replace(/^\//, ''));
  const slash = source.indexOf('/');
  return { Bucket: source.slice(0, slash), Key: source.slice(slash + 1).replace(/\?versionId=.*$/, '') };
}

interface SendableClient {
  readonly config?: { readonly serviceId?: string };
}

interface Command {
  readonly input?: unknown;
  readonly constructor: { readonly name: string };
}

type Send = (this: SendableClient, command: Command, ...rest: unknown[]) => unknown;

/** Calls recorded in this module instance (one per jest test file). */
export const recordedCalls: (RecordedCall & { readonly resourceKind: string })[] = [];

/**
 * Patches `Client.prototype.send` of `@smithy/core/client` (the base of every SDK v3 client,
 * DynamoDBDocumentClient included) to record attributed calls. Idempotent.
 */
export function installAwsCallRecorder(root: string): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Client } = require('@smithy/core/client') as { Client: { prototype: { send: Send } } };
  const original = Client.prototype.send as Send & { recorded?: true };
  if (original.recorded) return;
  const patched: Send & { recorded?: true } = function (this: SendableClient, command, ...rest) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 200;
    const stack = new Error().stack ?? '';
    Error.stackTraceLimit = limit;
    const component = componentScope.getStore() ?? componentFromStack(stack, root);
    if (component) {
      const service =
        IAM_PREFIX[this.config?.serviceId ?? ''] ?? (this.config?.serviceId ?? 'unknown').toLowerCase();
      const action = actionOf(command.constructor.name, service);
      const hints = hintsOf(command.input);
      recordedCalls.push({
        component,
        service,
        action,
        hints,
        resourceKind: resourceKindOf({ service, action, hints }, process.env),
      });
      // A DeleteObject with If-Match <etag> also needs s3:GetObject on the object (S3 user guide,
      // conditional deletes): recorded as a read of the same key.
      if (service === 's3' && action === 'DeleteObject' && hints.IfMatch) {
        recordedCalls.push({
          component,
          service,
          action: 'ConditionalDeleteRead',
          hints,
          resourceKind: resourceKindOf({ service, action, hints }, process.env),
        });
      }
      const source = copySourceHints(service, action, hints);
      if (source) {
        recordedCalls.push({
          component,
          service,
          action: 'CopyObjectSource',
          hints: source,
          resourceKind: resourceKindOf({ service, action, hints: source }, process.env),
        });
      }
    }
    return original.call(this, command, ...rest);
  };
  patched.recorded = true;
  Client.prototype.send = patched;
}
