import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import { acknowledge, Finding } from '../../compliance';
import { ANALYTICS_PREFIX } from './batch-data-access';

/** Properties of {@link AnalyticsExportAccess}. */
export interface AnalyticsExportAccessProps {
  /** Bucket of the analytics prefix. */
  readonly dataBucket: s3.IBucket;
  /** Key of the bucket (SSE-KMS with a bucket key). */
  readonly key: kms.IKey;
}

/**
 * What the analytics exporter may do with the stage's data, as a managed policy for its role: put
 * objects under the analytics prefix (nothing else of the bucket, no reads) and encrypt them with the
 * data key. It lives in the stack that owns the bucket (like `BatchDataAccess`), so the prefix wildcard
 * is a local reference that is acknowledged with its reason.
 */
export class AnalyticsExportAccess extends Construct {
  /** Attach to the exporter's role. */
  readonly policy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: AnalyticsExportAccessProps) {
    super(scope, id);
    const objects = props.dataBucket.arnForObjects(`${ANALYTICS_PREFIX}*`);
    this.policy = new iam.ManagedPolicy(this, 'Policy', {
      description: 'Analytics exporter: put JSON-lines objects under the analytics prefix with the data key',
      statements: [
        new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [objects] }),
        new iam.PolicyStatement({
          actions: ['kms:Encrypt', 'kms:GenerateDataKey'],
          resources: [props.key.keyArn],
        }),
      ],
    });
    acknowledge(
      this.policy,
      [Finding.awsSolutions(`IAM5[Resource::${flattenCfnReference(Stack.of(this).resolve(objects))}]`)],
      'Object keys are named after each stream batch (partition and sequence-number range), not known at deploy time; the exporter only puts objects, and only under the analytics prefix the Glue table covers.',
    );
  }
}
