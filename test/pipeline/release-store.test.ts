import { App, Stack, type CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { ReleaseStore } from '../../lib/pipeline/release-store';

describe('ReleaseStore.grantReadDossiers', () => {
  it('lets an approver read dossiers/ and decrypt them, and nothing else of the store', () => {
    const stack = new Stack(new App(), 'Store', { env: { account: '111111111111', region: 'eu-west-1' } });
    const store = new ReleaseStore(stack, 'ReleaseStore', { accessLogs: new s3.Bucket(stack, 'Logs') });
    const approver = new iam.ManagedPolicy(stack, 'Approver', {
      roles: [new iam.Role(stack, 'Role', { assumedBy: new iam.AccountRootPrincipal() })],
    });
    store.grantReadDossiers(approver);
    const template = Template.fromStack(stack);
    const bucketId = stack.getLogicalId(store.bucket.node.defaultChild as s3.CfnBucket);
    const keyId = stack.getLogicalId(store.key.node.defaultChild as CfnElement);
    const [policy] = Object.values(template.findResources('AWS::IAM::ManagedPolicy'));
    expect(policy.Properties.PolicyDocument.Statement).toEqual([
      {
        Effect: 'Allow',
        Action: 's3:GetObject',
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/dossiers/*']] },
      },
      { Effect: 'Allow', Action: 'kms:Decrypt', Resource: { 'Fn::GetAtt': [keyId, 'Arn'] } },
    ]);
    expect(store.reviewUrl('exec-1')).toMatch(
      /^https:\/\/eu-west-1\.console\.aws\.amazon\.com\/s3\/object\/.+\?region=eu-west-1&bucketType=general&prefix=dossiers\/exec-1\/dossier\.html$/,
    );
  });
});
