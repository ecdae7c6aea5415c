import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import { acknowledge, Finding } from '../../compliance';

/** Properties of {@link DataCaptureAccess}. */
export interface DataCaptureAccessProps {
  /** Bucket that receives endpoint data capture. */
  readonly bucket: s3.IBucket;
  /** Key of that bucket; captured objects are encrypted with it. */
  readonly key: kms.IKey;
  /** Key prefix SageMaker writes under, without slashes. */
  readonly prefix: string;
}

/**
 * A managed policy that lets a SageMaker execution role write endpoint data capture under one prefix
 * of the data bucket. It lives in the stack that owns the bucket, so the one unavoidable wildcard
 * (SageMaker generates the object keys) is a local reference that can be acknowledged precisely.
 */
export class DataCaptureAccess extends Construct {
  /** Attach to the endpoint's execution role. */
  readonly policy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: DataCaptureAccessProps) {
    super(scope, id);
    const objects = props.bucket.arnForObjects(`${props.prefix}/*`);
    this.policy = new iam.ManagedPolicy(this, 'Policy', {
      description: `Write SageMaker endpoint data capture under ${props.prefix}/ of the data bucket`,
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
      `SageMaker names data-capture objects itself (endpoint/variant/date/hour/uuid), so the write is limited to the ${props.prefix}/ prefix of the data bucket; PutObject only, no read or delete.`,
    );
  }
}
