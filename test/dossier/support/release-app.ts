import { App, Stack, Stage, Validations, type IPolicyValidationPlugin } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { acknowledge, Finding } from '../../../lib/compliance';
import { tempOutdir } from '../../support/cdk-app';

/** How a variant of the small release app differs from the base. */
export interface Variant {
  /** The worker role may read the bucket (one more IAM statement). */
  readonly grantRead?: boolean;
  /** The bucket's access-logging finding is acknowledged (one more acknowledgement). */
  readonly acknowledgeLogging?: boolean;
}

/** Passes every template, so CDK writes validation-report.json as in the real synth (no open findings). */
const passingPlugin: IPolicyValidationPlugin = {
  name: 'release-app-checks',
  validate: () => ({ success: true, violations: [] }),
};

/**
 * Synthesizes a small app shaped like the real one (a pipeline stack holding a `Dev` stage) into a
 * fresh cloud assembly directory and returns it.
 */
export function synthReleaseApp(variant: Variant = {}): string {
  const outdir = tempOutdir();
  const app = new App({ outdir });
  Validations.of(app).addPlugins(passingPlugin);
  const pipeline = new Stack(app, 'Pipeline', { env: { account: '111111111111', region: 'us-east-1' } });
  // CloudFormation validation (on by default) refuses a template without resources.
  new iam.Role(pipeline, 'PipelineRole', {
    assumedBy: new iam.ServicePrincipal('codepipeline.amazonaws.com'),
  });
  const stage = new Stage(pipeline, 'Dev', { env: { account: '222222222222', region: 'us-east-1' } });
  const stack = new Stack(stage, 'Service');
  const bucket = new s3.Bucket(stack, 'Models', { enforceSSL: true });
  const role = new iam.Role(stack, 'Worker', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
  role.addToPolicy(
    new iam.PolicyStatement({
      actions: ['sqs:SendMessage'],
      resources: ['arn:aws:sqs:us-east-1:222222222222:jobs'],
    }),
  );
  acknowledge(
    role,
    [Finding.nist('IAMNoInlinePolicy')],
    'The worker role owns its one policy; no other role shares it.',
  );
  if (variant.grantRead) bucket.grantRead(role);
  if (variant.acknowledgeLogging) {
    acknowledge(
      bucket,
      [Finding.guard('s3_bucket_logging_enabled_check')],
      'Model bucket of a short-lived test stage; its reads are in CloudTrail data events.',
    );
  }
  app.synth();
  return outdir;
}
