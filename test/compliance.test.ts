import { App, CfnResource, Stack, Stage } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { acknowledge, addComplianceChecks, Finding, inapplicableGuardRules } from '../lib/compliance';
import { cdkJsonContext, tempOutdir } from './support/cdk-app';

function appWithStage(build: (stack: Stack) => void): App {
  const app = new App({ context: cdkJsonContext(), outdir: tempOutdir() });
  addComplianceChecks(app);
  const stage = new Stage(app, 'Dev', { env: { account: '222222222222', region: 'us-east-1' } });
  build(new Stack(stage, 'Data'));
  return app;
}

describe('compliance gate', () => {
  it('fails synth when a non-compliant resource sits inside a stage', () => {
    const app = appWithStage((stack) => new s3.Bucket(stack, 'PlainBucket'));
    expect(() => app.synth()).toThrow(/Dev\/Data\/PlainBucket\/Resource[\s\S]*AwsSolutions::AwsSolutions-S1/);
    // cfn-guard runs the Control Tower rules that apply to S3 buckets.
    expect(() => app.synth()).toThrow(/cdk-validator-cfnguard::s3_bucket_versioning_enabled_check/);
  });

  it('still fails when only some of the findings of that resource are acknowledged', () => {
    const app = appWithStage((stack) => {
      const bucket = new s3.Bucket(stack, 'PlainBucket');
      acknowledge(bucket, [Finding.awsSolutions('S1')], 'test: one finding only');
    });
    expect(() => app.synth()).toThrow(/AwsSolutions::AwsSolutions-S10/);
    expect(() => app.synth()).not.toThrow(/AwsSolutions::AwsSolutions-S1'/);
  });

  it('fails synth on a CloudFormation schema error', () => {
    const app = appWithStage(
      (stack) =>
        new CfnResource(stack, 'Broken', {
          type: 'AWS::SQS::Queue',
          properties: { VisibilityTimeout: 'soon', NotAProperty: true },
        }),
    );
    expect(() => app.synth()).toThrow(/NotAProperty: Additional properties are not allowed/);
  });
});

describe('Control Tower rule selection', () => {
  it('skips only rules whose resource types appear in no template', () => {
    const dir = tempOutdir();
    const write = (name: string, text: string): string => {
      fs.writeFileSync(path.join(dir, name), text);
      return path.join(dir, name);
    };
    const template = write(
      't.template.json',
      JSON.stringify({ Resources: { Q: { Type: 'AWS::SQS::Queue' } } }),
    );
    const sqsRule = write('ct-sqs-pr-1.guard', 'let SQS_QUEUE_TYPE = "AWS::SQS::Queue"');
    const mixedRule = write('ct-mixed.guard', 'let A = "AWS::Redshift::Cluster"\nlet B = "AWS::SQS::Queue"');
    const redshiftRule = write('ct-redshift-pr-1.guard', 'let T = "AWS::Redshift::Cluster"');
    expect(inapplicableGuardRules([template], [sqsRule, mixedRule, redshiftRule])).toEqual([
      'ct-redshift-pr-1',
    ]);
  });
});
