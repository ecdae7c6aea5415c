import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as sns from 'aws-cdk-lib/aws-sns';

/**
 * Lets CloudWatch alarms of this account and region publish to `topic` and use its key. A topic
 * policy replaces SNS's default policy: once the topic has one (the TLS-only deny), alarm actions
 * fail with "no resource-based policy allows the SNS:Publish action" unless it allows
 * `cloudwatch.amazonaws.com`. Both statements are scoped to this account's alarms in this region
 * (aws:SourceAccount and aws:SourceArn), so no other account's alarm can publish (confused deputy).
 */
export function allowAlarmNotifications(topic: sns.ITopic, key?: kms.IKey): void {
  const { account, region, partition } = Stack.of(topic);
  const conditions = {
    StringEquals: { 'aws:SourceAccount': account },
    ArnLike: { 'aws:SourceArn': `arn:${partition}:cloudwatch:${region}:${account}:alarm:*` },
  };
  const cloudwatch = new iam.ServicePrincipal('cloudwatch.amazonaws.com');
  topic.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsPublish',
      principals: [cloudwatch],
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
      conditions,
    }),
  );
  key?.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsUseTopicKey',
      principals: [cloudwatch],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
      conditions,
    }),
  );
}
