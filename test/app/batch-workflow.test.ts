import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as batch from 'aws-cdk-lib/aws-batch';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { ExecutionError, StateMachine } from 'aws-local-stepfunctions';
import { BatchWorkflow } from '../../lib/app/batch/batch-workflow';
import type { BatchConfig } from '../../services/batch/config';
import { runScorer, type ProgressLog } from '../../services/batch/scorer';
import { memoryStore, memoryTable } from '../batch/support/memory';
import { loadFixtureModel } from '../batch/support/model-fixture';
import { tempOutdir } from '../support/cdk-app';
import {
  stateMachineDefinition,
  expectValidAsl,
  type JsonValue,
  type TaskHandlers,
} from '../support/state-machine';

const ENV = { account: '123456789012', region: 'eu-west-1' };
const QUEUE_ARN = `arn:aws:batch:${ENV.region}:${ENV.account}:job-queue/scoring`;
const DEFINITION_ARN = `arn:aws:batch:${ENV.region}:${ENV.account}:job-definition/scorer:3`;

interface Built {
  readonly template: Template;
  readonly definition: Record<string, unknown>;
}

function build(maxTasks?: number): Built {
  const app = new App({ outdir: tempOutdir() });
  const stack = new Stack(app, 'Workflow', { env: ENV });
  const key = new kms.Key(stack, 'Key', { enableKeyRotation: true });
  new BatchWorkflow(stack, 'Batch', {
    batchBucket: new s3.Bucket(stack, 'Input'),
    jobQueue: batch.JobQueue.fromJobQueueArn(stack, 'Queue', QUEUE_ARN),
    jobDefinition: batch.EcsJobDefinition.fromJobDefinitionArn(stack, 'Job', DEFINITION_ARN),
    alertTopic: new sns.Topic(stack, 'Alerts', { masterKey: key }),
    encryptionKey: key,
    logRetentionDays: logs.RetentionDays.ONE_MONTH,
    scheduleDeadLetterQueue: new sqs.Queue(stack, 'Dlq'),
    maxTasks,
  });
  const template = Template.fromStack(stack);
  return { template, definition: stateMachineDefinition(template, ENV) };
}

interface Scenario {
  /** Keys under `pending/`. */
  readonly pending: readonly string[];
  /** How the Batch job ends. @default 'SUCCEEDED' */
  readonly job?: 'SUCCEEDED' | 'FAILED';
  /** Runs the job's tasks as AWS Batch would: `shardCount` tasks, child `index` of each. */
  readonly runTasks?: (shardCount: number) => Promise<void>;
}

interface Outcome {
  readonly output?: JsonValue;
  readonly error?: ExecutionError;
  readonly submitted: Record<string, unknown>[];
  readonly listed: Record<string, unknown>[];
  readonly notifications: { Subject?: string; Message: string }[];
}

/** What the workflow passes to batch:submitJob. */
interface SubmitJobRequest {
  readonly ArrayProperties?: { readonly Size: number };
  readonly ContainerOverrides?: { readonly Environment?: readonly { Name: string; Value: string }[] };
}

/** The shards AWS Batch would run for a request, checked against the SHARD_COUNT the tasks are told. */
function shardCountOf(request: SubmitJobRequest): number {
  const told = request.ContainerOverrides?.Environment?.find((e) => e.Name === 'SHARD_COUNT')?.Value;
  const children = request.ArrayProperties?.Size ?? 1;
  if (told !== String(children)) throw new Error(`SHARD_COUNT ${told} but ${children} tasks`);
  return children;
}

class NamedError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/** Runs the synthesized definition with S3, Batch and SNS stood in by local handlers. */
async function run(definition: Record<string, unknown>, scenario: Scenario): Promise<Outcome> {
  const submitted: Record<string, unknown>[] = [];
  const listed: Record<string, unknown>[] = [];
  const notifications: { Subject?: string; Message: string }[] = [];
  const handlers: TaskHandlers = {};
  const retries: Record<string, number> = {};
  const states = definition.States as Record<string, { Type: string; Resource?: string }>;
  for (const [name, state] of Object.entries(states)) {
    if (state.Type !== 'Task') continue;
    retries[name] = 0;
    const resource = state.Resource ?? '';
    if (resource.endsWith(':aws-sdk:s3:listObjectsV2')) {
      handlers[name] = (input) => {
        const request = input as { Bucket: string; Prefix: string; MaxKeys: number };
        listed.push(request);
        const keys = scenario.pending.filter((k) => k.startsWith(request.Prefix)).slice(0, request.MaxKeys);
        return { KeyCount: keys.length, Contents: keys.map((Key) => ({ Key })), IsTruncated: false };
      };
    } else if (resource.endsWith(':batch:submitJob.sync')) {
      handlers[name] = async (input) => {
        const request = input as SubmitJobRequest;
        submitted.push(request as unknown as Record<string, unknown>);
        if (scenario.job === 'FAILED') {
          throw new NamedError('States.TaskFailed', 'Job batch-scoring FAILED: Essential container exited 1');
        }
        await scenario.runTasks?.(shardCountOf(request));
        return { JobId: 'job-1', JobName: 'batch-scoring', Status: 'SUCCEEDED' };
      };
    } else if (resource.endsWith(':sns:publish')) {
      handlers[name] = (input) => {
        notifications.push(input as { Subject?: string; Message: string });
        return { MessageId: 'm-1' };
      };
    } else {
      throw new Error(`no local handler for task ${name} (${resource})`);
    }
  }
  const machine = new StateMachine(definition as unknown as ConstructorParameters<typeof StateMachine>[0]);
  const execution = machine.run(
    {},
    {
      overrides: { taskResourceLocalHandlers: handlers, retryIntervalOverrides: retries },
      // The library leaves `$$.Execution.Name` unset; the failure message names the run.
      context: { Execution: { Name: 'scheduled-run-1' } },
    },
  );
  try {
    return { output: await execution.result, submitted, listed, notifications };
  } catch (error) {
    if (!(error instanceof ExecutionError)) throw error;
    return { error, submitted, listed, notifications };
  }
}

const silent: ProgressLog = { info: () => undefined, warn: () => undefined };
const scorerConfig: Omit<BatchConfig, 'shardCount' | 'shardIndex'> = {
  batchBucket: 'batch',
  analyticsBucket: 'analytics',
  analyticsPrefix: 'analytics/predictions/',
  tableName: 'predictions',
  modelParameterPrefix: '/test/dev/model',
  modelDir: '/unused',
  batchSize: 10,
  maxObjects: 100,
  maxObjectBytes: 1 << 20,
  writeConcurrency: 4,
  scoreConcurrency: 2,
  progressIntervalSeconds: 60,
};

describe('BatchWorkflow', () => {
  let built: Built;
  let fixture: Awaited<ReturnType<typeof loadFixtureModel>>;
  beforeAll(async () => {
    built = build();
    fixture = await loadFixtureModel();
  });
  afterAll(() => fixture?.close());

  describe('synthesized definition', () => {
    it('is valid Amazon States Language', () => {
      expectValidAsl(built.definition);
    });

    it('submits the job with .sync (waits for it) to the given queue and definition', () => {
      const states = built.definition.States as Record<string, { Resource?: string; Parameters?: unknown }>;
      const submit = Object.values(states).filter((s) => s.Resource?.includes(':batch:submitJob'));
      expect(submit).toHaveLength(2);
      for (const state of submit) {
        expect(state.Resource).toBe('arn:aws:states:::batch:submitJob.sync');
        expect(state.Parameters).toMatchObject({ JobQueue: QUEUE_ARN, JobDefinition: DEFINITION_ARN });
      }
    });

    it('refuses a maxTasks one listing page cannot count', () => {
      expect(() => build(1001)).toThrow('maxTasks must be a whole number from 1 to 1000, got 1001');
    });

    it('traces, logs ALL with execution data and encrypts state data with the customer key', () => {
      built.template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
        TracingConfiguration: { Enabled: true },
        LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: true }),
        EncryptionConfiguration: Match.objectLike({ Type: 'CUSTOMER_MANAGED_KMS_KEY' }),
      });
      built.template.hasResourceProperties('AWS::Logs::LogGroup', { KmsKeyId: Match.anyValue() });
    });

    it('is started every 6 hours, with retries and a dead-letter queue', () => {
      built.template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: 'rate(6 hours)',
        Targets: [
          Match.objectLike({
            DeadLetterConfig: { Arn: Match.anyValue() },
            RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 3 }),
          }),
        ],
      });
    });
  });

  describe('execution', () => {
    it('runs one task for one pending object and succeeds when the job succeeds', async () => {
      const outcome = await run(built.definition, { pending: ['pending/a.jsonl'] });
      expect(outcome.error).toBeUndefined();
      expect(outcome.listed).toEqual([expect.objectContaining({ Prefix: 'pending/', MaxKeys: 4 })]);
      expect(outcome.submitted).toHaveLength(1);
      expect(outcome.submitted[0]).not.toHaveProperty('ArrayProperties');
      expect(outcome.notifications).toHaveLength(0);
      expect(outcome.output).toMatchObject({ job: { jobId: 'job-1', status: 'SUCCEEDED' } });
    });

    it('runs an array job of one task per pending object, at most maxTasks', async () => {
      const two = await run(built.definition, { pending: ['pending/a.jsonl', 'pending/b.jsonl'] });
      expect(two.submitted).toEqual([expect.objectContaining({ ArrayProperties: { Size: 2 } })]);
      const many = await run(built.definition, {
        pending: Array.from({ length: 9 }, (_, i) => `pending/${i}.jsonl`),
      });
      expect(many.submitted).toEqual([expect.objectContaining({ ArrayProperties: { Size: 4 } })]);
    });

    it('scores every row exactly once with N concurrent shards of the real scorer', async () => {
      const store = memoryStore();
      const table = memoryTable();
      const rowsPerObject = [30, 12, 45, 7, 60, 22, 18];
      rowsPerObject.forEach(
        (rows, i) =>
          void store.putText(
            'batch',
            `pending/in-${i}.jsonl`,
            Array.from({ length: rows }, (_, r) => JSON.stringify({ features: [i, r, 1, 2] })).join('\n'),
            'application/x-ndjson',
          ),
      );
      const pendingKeys = async () => (await store.list('batch', 'pending/', 1000)).map((o) => o.key);
      const shardsRun: number[] = [];
      const outcome = await run(build(3).definition, {
        pending: await pendingKeys(),
        runTasks: async (shardCount) => {
          const config: BatchConfig = { ...scorerConfig, shardCount, shardIndex: 0 };
          const summaries = await Promise.all(
            Array.from({ length: shardCount }, (_, shardIndex) =>
              runScorer({ ...config, shardIndex }, { store, table, model: fixture.model, log: silent }),
            ),
          );
          shardsRun.push(...summaries.map((s) => s.objects.length));
        },
      });

      expect(outcome.error).toBeUndefined();
      expect(outcome.submitted).toEqual([expect.objectContaining({ ArrayProperties: { Size: 3 } })]);
      expect(shardsRun).toHaveLength(3);
      expect(shardsRun.reduce((a, b) => a + b, 0)).toBe(rowsPerObject.length);
      expect(shardsRun.filter((objects) => objects > 0).length).toBeGreaterThan(1);
      const total = rowsPerObject.reduce((a, b) => a + b, 0);
      expect(table.items.size).toBe(total);
      const analytics = [...store.objects.entries()].filter(([k]) => k.startsWith('analytics/'));
      const ids = analytics.flatMap(([, body]) =>
        body
          .trim()
          .split('\n')
          .map((l) => (JSON.parse(l) as { predictionId: string }).predictionId),
      );
      expect(ids).toHaveLength(total);
      expect(new Set(ids)).toEqual(new Set(table.items.keys()));
      expect(await pendingKeys()).toEqual([]);
    });

    it('announces a failed job on the alert topic and fails the execution', async () => {
      const outcome = await run(built.definition, { pending: ['pending/a.jsonl'], job: 'FAILED' });
      expect(outcome.submitted).toHaveLength(1);
      expect(outcome.notifications).toHaveLength(1);
      expect(outcome.notifications[0].Subject).toBe('Batch scoring failed');
      expect(outcome.notifications[0].Message).toMatch(
        /^Batch scoring run scheduled-run-1 failed: States\.TaskFailed: .*Essential container exited 1/,
      );
      expect((outcome.error?.cause as Error | undefined)?.name).toBe('BatchScoringFailed');
    });

    it('succeeds without a job when nothing is pending', async () => {
      const outcome = await run(built.definition, { pending: ['processed/old.jsonl'] });
      expect(outcome.error).toBeUndefined();
      expect(outcome.submitted).toHaveLength(0);
      expect(outcome.notifications).toHaveLength(0);
    });
  });
});
