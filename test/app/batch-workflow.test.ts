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

function build(): Built {
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
  });
  const template = Template.fromStack(stack);
  return { template, definition: stateMachineDefinition(template, ENV) };
}

interface Scenario {
  /** Keys under `pending/`. */
  readonly pending: readonly string[];
  /** How the Batch job ends. @default 'SUCCEEDED' */
  readonly job?: 'SUCCEEDED' | 'FAILED';
}

interface Outcome {
  readonly output?: JsonValue;
  readonly error?: ExecutionError;
  readonly submitted: Record<string, unknown>[];
  readonly listed: Record<string, unknown>[];
  readonly notifications: { Subject?: string; Message: string }[];
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
      handlers[name] = (input) => {
        submitted.push(input as Record<string, unknown>);
        if (scenario.job === 'FAILED') {
          throw new NamedError('States.TaskFailed', 'Job batch-scoring FAILED: Essential container exited 1');
        }
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

describe('BatchWorkflow', () => {
  let built: Built;
  beforeAll(() => {
    built = build();
  });

  describe('synthesized definition', () => {
    it('is valid Amazon States Language', () => {
      expectValidAsl(built.definition);
    });

    it('submits the job with .sync (waits for it) to the given queue and definition', () => {
      const states = built.definition.States as Record<string, { Resource?: string; Parameters?: unknown }>;
      const submit = Object.values(states).filter((s) => s.Resource?.includes(':batch:submitJob'));
      expect(submit).toHaveLength(1);
      expect(submit[0].Resource).toBe('arn:aws:states:::batch:submitJob.sync');
      expect(submit[0].Parameters).toMatchObject({ JobQueue: QUEUE_ARN, JobDefinition: DEFINITION_ARN });
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
    it('runs the job for pending input and succeeds when the job succeeds', async () => {
      const outcome = await run(built.definition, { pending: ['pending/a.jsonl', 'pending/b.jsonl'] });
      expect(outcome.error).toBeUndefined();
      expect(outcome.listed).toEqual([expect.objectContaining({ Prefix: 'pending/', MaxKeys: 1 })]);
      expect(outcome.submitted).toHaveLength(1);
      expect(outcome.notifications).toHaveLength(0);
      expect(outcome.output).toMatchObject({ job: { jobId: 'job-1', status: 'SUCCEEDED' } });
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
