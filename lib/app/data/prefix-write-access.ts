import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import { acknowledge, Finding } from '../../compliance';

/** Properties of {@link PrefixWriteAccess}. */
export interface PrefixWriteAccessProps {
  /** Bucket written to. */
  readonly bucket: s3.IBucket;
  /** Key of that bucket; written objects are encrypted with it. */
  readonly key: kms.IKey;
  /** Key prefix the writer may put objects under (`data-capture`, `analytics/predictions/`). */
  readonly prefix: string;
  /** What the policy is for, shown in the console. */
  readonly description: string;
  /** Why the object keys under the prefix cannot be named in advance (the acknowledgement's reason). */
  readonly wildcardReason: string;
}

/**
 * A managed policy that lets a writer put objects under one prefix of a bucket (no read, no delete)
 * and encrypt them with the bucket's key. Create it in the stack that owns the bucket: there the
 * prefix wildcard is a local reference that cdk-nag reports, and it is acknowledged, precisely.
 */
export class PrefixWriteAccess extends Construct {
  /** Attach to the writer's role. */
  readonly policy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: PrefixWriteAccessProps) {
    super(scope, id);
    const objects = props.bucket.arnForObjects(`${props.prefix.replace(/\/+$/, '')}/*`);
    this.policy = new iam.ManagedPolicy(this, 'Policy', {
      description: props.description,
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
      `${props.wildcardReason} PutObject only, under that prefix only.`,
    );
  }
}
