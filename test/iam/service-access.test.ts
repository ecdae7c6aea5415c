import type { StageTemplates } from './checker';
import {
  accessLogDeliveryProblems,
  alarmDeliveryProblems,
  batchJobProblems,
  logGroupKeyProblems,
  ruleTargetProblems,
  sageMakerModelProblems,
  serviceAccessProblems,
} from './service-access';
import { synthesizeStage } from './stage-templates';

/**
 * Every call an AWS service makes on the stage's behalf is allowed by the templates, and each check
 * fails on a copy of the real templates with the one statement it depends on removed, naming it.
 */

interface Statement {
  Sid?: string;
  Effect?: string;
  Principal?: unknown;
  Action?: unknown;
}

let templates: StageTemplates;

beforeAll(() => {
  templates = synthesizeStage().templates;
});

const actionsOf = (st: Statement): string[] => [st.Action ?? []].flat().map(String);
const servicesOf = (st: Statement): string[] =>
  [(st.Principal as { Service?: unknown } | undefined)?.Service ?? []].flat().map(String);

/** A copy of the templates without the policy statements (resource, key and identity policies) that match. */
function without(remove: (st: Statement, type: string) => boolean): StageTemplates {
  const copy = JSON.parse(JSON.stringify(templates)) as StageTemplates;
  let removed = 0;
  for (const template of Object.values(copy.stacks)) {
    for (const resource of Object.values(template.Resources ?? {})) {
      const props = resource.Properties as Record<string, { Statement?: Statement[] }> | undefined;
      for (const field of ['PolicyDocument', 'KeyPolicy']) {
        const document = props?.[field];
        if (!document?.Statement) continue;
        const kept = document.Statement.filter((st) => !remove(st, resource.Type));
        removed += document.Statement.length - kept.length;
        document.Statement = kept;
      }
    }
  }
  expect(removed).toBeGreaterThan(0);
  return copy;
}

/** Logical ids of the resources of `type` in the stage whose properties satisfy `test`. */
function resourcesWhere(type: string, test: (props: Record<string, unknown>) => boolean): string[] {
  return Object.entries(templates.stacks).flatMap(([stack, t]) =>
    Object.entries(t.Resources ?? {})
      .filter(([, r]) => r.Type === type && test(r.Properties ?? {}))
      .map(([id]) => `${stack}/${id}`),
  );
}

describe('service-to-service permissions', () => {
  it('every alarm action, rule target, access-log delivery, log group key, model and batch job is allowed', () => {
    expect(serviceAccessProblems(templates)).toEqual([]);
  });

  it('grants services in resource and key policies only for this account, and no one else outside it', () => {
    const broad: string[] = [];
    for (const [stack, t] of Object.entries(templates.stacks)) {
      for (const [id, r] of Object.entries(t.Resources ?? {})) {
        const props = r.Properties as Record<string, { Statement?: (Statement & { Condition?: object })[] }>;
        const document =
          r.Type === 'AWS::KMS::Key'
            ? props.KeyPolicy
            : /Policy$/.test(r.Type) && !/^AWS::IAM::/.test(r.Type)
              ? props.PolicyDocument
              : undefined;
        for (const st of document?.Statement ?? []) {
          if (st.Effect !== 'Allow') continue;
          const where = `${stack}/${id} ${st.Sid ?? JSON.stringify(st.Principal)}`;
          const condition = JSON.stringify(st.Condition ?? {});
          const aws = JSON.stringify((st.Principal as { AWS?: unknown } | undefined)?.AWS ?? '');
          if (
            servicesOf(st).length > 0 &&
            !/aws:SourceAccount|aws:SourceArn|kms:EncryptionContext|kms:ViaService/.test(condition)
          ) {
            broad.push(`${where}: a service principal without a source condition`);
          }
          if (st.Principal === '*' || aws === '"*"') broad.push(`${where}: any principal`);
          for (const [, account] of aws.matchAll(/:iam::(\d{12}):root/g)) {
            if (account !== templates.account) broad.push(`${where}: all of account ${account}`);
          }
        }
      }
    }
    expect(broad).toEqual([]);
  });

  it('finds the alarms, rules, logged buckets, encrypted log groups, models and jobs of the stage', () => {
    const alarms = resourcesWhere('AWS::CloudWatch::Alarm', (p) => Array.isArray(p.AlarmActions));
    expect(alarms.length).toBeGreaterThanOrEqual(6);
    expect(resourcesWhere('AWS::Events::Rule', () => true).length).toBeGreaterThanOrEqual(2);
    expect(
      resourcesWhere('AWS::S3::Bucket', (p) => p.LoggingConfiguration !== undefined).length,
    ).toBeGreaterThanOrEqual(3);
    expect(
      resourcesWhere('AWS::Logs::LogGroup', (p) => p.KmsKeyId !== undefined).length,
    ).toBeGreaterThanOrEqual(5);
    expect(resourcesWhere('AWS::SageMaker::Model', () => true)).toHaveLength(2);
    expect(resourcesWhere('AWS::Batch::JobDefinition', () => true)).toHaveLength(1);
  });

  it("fails with exactly that problem when the topic policy's allow for CloudWatch is dropped", () => {
    const broken = without((st, type) => type === 'AWS::SNS::TopicPolicy' && st.Effect === 'Allow');
    const notifying = resourcesWhere('AWS::CloudWatch::Alarm', (p) => Array.isArray(p.AlarmActions));
    const problems = alarmDeliveryProblems(broken);
    expect(problems).toHaveLength(notifying.length);
    for (const problem of problems) {
      expect(problem).toMatch(
        /^sns:Publish by cloudwatch\.amazonaws\.com on \S+AlertTopic\w+ \(AWS::SNS::Topic\) is not allowed by its policy \(alarm \S+ notifies \S+\)$/,
      );
    }
    expect(serviceAccessProblems(broken)).toEqual(problems);
  });

  it("fails when the topic's key does not let CloudWatch use it", () => {
    const broken = without(
      (st, type) => type === 'AWS::KMS::Key' && servicesOf(st).includes('cloudwatch.amazonaws.com'),
    );
    const problems = alarmDeliveryProblems(broken);
    expect(problems.length).toBeGreaterThan(0);
    expect(
      problems.every((p) =>
        /^kms:(Decrypt|GenerateDataKey) by cloudwatch\.amazonaws\.com on \S+ \(AWS::KMS::Key\)/.test(p),
      ),
    ).toBe(true);
  });

  it('fails when a rule may not invoke its Lambda target, start its state machine or dead-letter', () => {
    const noPermission = JSON.parse(JSON.stringify(templates)) as StageTemplates;
    for (const t of Object.values(noPermission.stacks)) {
      for (const [id, r] of Object.entries(t.Resources ?? {})) {
        if (r.Type === 'AWS::Lambda::Permission' && r.Properties?.Principal === 'events.amazonaws.com') {
          delete (t.Resources as Record<string, unknown>)[id];
        }
      }
    }
    // Every scheduled function: the drift job and the feedback quality job.
    expect([...ruleTargetProblems(noPermission)].sort()).toEqual([
      expect.stringMatching(
        /^rule \S+DriftSchedule\w+ targets \S+DriftFunction\w+: no Lambda permission lets events\.amazonaws\.com invoke it from this rule$/,
      ),
      expect.stringMatching(
        /^rule \S+FeedbackQualitySchedule\w+ targets \S+FeedbackQualityFunction\w+: no Lambda permission lets events\.amazonaws\.com invoke it from this rule$/,
      ),
    ]);
    const noStart = without((st) => actionsOf(st).includes('states:StartExecution'));
    expect(ruleTargetProblems(noStart)).toEqual([
      expect.stringMatching(
        /^states:StartExecution on \S+ is not allowed \(rule \S+WorkflowSchedule\w+ targets \S+WorkflowStateMachine\w+\)$/,
      ),
    ]);
    const noDlq = without(
      (st, type) => type === 'AWS::SQS::QueuePolicy' && servicesOf(st).includes('events.amazonaws.com'),
    );
    const problems = ruleTargetProblems(noDlq);
    expect(problems.length).toBeGreaterThanOrEqual(2);
    expect(
      problems.every((p) =>
        /^sqs:SendMessage by events\.amazonaws\.com on \S+ScheduleDlq\w+ \(AWS::SQS::Queue\) is not allowed/.test(
          p,
        ),
      ),
    ).toBe(true);
  });

  it('fails when the access-log bucket does not let S3 logging write', () => {
    const broken = without((st) => servicesOf(st).includes('logging.s3.amazonaws.com'));
    const logged = resourcesWhere('AWS::S3::Bucket', (p) => p.LoggingConfiguration !== undefined);
    const problems = accessLogDeliveryProblems(broken);
    expect(problems).toHaveLength(logged.length);
    expect(problems.every((p) => p.startsWith('s3:PutObject by logging.s3.amazonaws.com on '))).toBe(true);
  });

  it("fails when a log group's key does not let CloudWatch Logs use it", () => {
    const broken = without((st) => servicesOf(st).some((s) => /^logs\./.test(s)));
    const encrypted = resourcesWhere('AWS::Logs::LogGroup', (p) => p.KmsKeyId !== undefined);
    const problems = logGroupKeyProblems(broken);
    expect(problems).toHaveLength(encrypted.length * 3);
    expect(
      problems.every((p) => /^kms:\w+ by logs\.us-east-1\.amazonaws\.com on \S+ \(AWS::KMS::Key\)/.test(p)),
    ).toBe(true);
  });

  it('fails when SageMaker may not pull the model image or read the model data', () => {
    const noImage = without((st) => actionsOf(st).includes('ecr:BatchGetImage'));
    const image = sageMakerModelProblems(noImage).filter((p) => p.includes(': ecr:BatchGetImage on '));
    expect(image).toEqual([
      expect.stringMatching(
        /VariantAModel\w+: ecr:BatchGetImage on arn:aws:ecr:us-east-1:222222222222:repository\/cdk-hnb659fds-container-assets-\S+ is not allowed/,
      ),
      expect.stringMatching(/VariantBModel\w+: ecr:BatchGetImage on /),
    ]);
    const noData = without((st) => actionsOf(st).some((a) => a.startsWith('s3:GetObject')));
    expect(
      sageMakerModelProblems(noData).filter((p) =>
        p.includes('s3:GetObject on arn:aws:s3:::cdk-hnb659fds-assets-'),
      ),
    ).toHaveLength(2);
  });

  it('fails when the batch job cannot pull its image or write its logs', () => {
    const broken = without((st) => actionsOf(st).includes('logs:PutLogEvents'));
    expect(
      batchJobProblems(broken).filter((p) => /ScoringJobDefinition\w+: logs:PutLogEvents on /.test(p)),
    ).toHaveLength(1);
  });
});
