import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as codepipeline from 'aws-cdk-lib/aws-codepipeline';
import * as actions from 'aws-cdk-lib/aws-codepipeline-actions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { approvalActionOf, ProdApprovals } from '../../lib/pipeline/prod-approvals';

/** ProdApprovals on a minimal pipeline: the e-mail subscriptions and approvers of users and roles. */
const emails = ['release-managers@example.com', 'ml-leads@example.com'];
let template: Template;
let bare: codepipeline.Pipeline;

beforeAll(() => {
  const stack = new Stack(new App(), 'Approvals', { env: { account: '111111111111', region: 'eu-west-1' } });
  const approvals = new ProdApprovals(stack, 'ProdApprovals', {
    approvers: ['arn:aws:iam::111111111111:role/team/ReleaseManager', 'arn:aws:iam::111111111111:user/alice'],
    emails,
  });
  const output = new codepipeline.Artifact();
  const pipeline = new codepipeline.Pipeline(stack, 'Pipeline', {
    pipelineType: codepipeline.PipelineType.V2,
    stages: [
      {
        stageName: 'Source',
        actions: [
          new actions.S3SourceAction({
            actionName: 'Source',
            bucket: new s3.Bucket(stack, 'Source', { versioned: true }),
            bucketKey: 'source.zip',
            output,
          }),
        ],
      },
      {
        stageName: 'Prod',
        actions: [
          new actions.ManualApprovalAction({ actionName: 'Approve', notificationTopic: approvals.topic }),
        ],
      },
    ],
  });
  // Never synthesized: only its (empty) stage list is read.
  bare = new codepipeline.Pipeline(new Stack(new App(), 'Other'), 'Bare', {
    pipelineType: codepipeline.PipelineType.V2,
  });
  const found = approvalActionOf(pipeline, 'Prod');
  approvals.grantApproval(pipeline, found.stageName, found.actionName);
  template = Template.fromStack(stack);
});

it('subscribes every configured address to the approval topic', () => {
  const topicId = Object.keys(template.findResources('AWS::SNS::Topic'))[0];
  const subscriptions = Object.values(template.findResources('AWS::SNS::Subscription')).map(
    (s) => s.Properties,
  );
  expect(subscriptions).toEqual(
    emails.map((address) => ({ Protocol: 'email', Endpoint: address, TopicArn: { Ref: topicId } })),
  );
});

it('attaches the approver policy to the named roles (path stripped) and users', () => {
  template.hasResourceProperties('AWS::IAM::ManagedPolicy', { Roles: ['ReleaseManager'], Users: ['alice'] });
});

it('refuses a pipeline stage without exactly one approval', () => {
  expect(() => approvalActionOf(bare, 'Prod')).toThrow(
    /expected one manual approval in pipeline stage Prod, found 0/,
  );
});
