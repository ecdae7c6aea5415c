import { RemovalPolicy } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { acknowledge, Finding } from '../compliance';

/** Bucket settings that may differ; everything else is fixed by {@link secureBucket}. */
export interface SecureBucketProps extends Pick<
  s3.BucketProps,
  | 'encryption'
  | 'encryptionKey'
  | 'serverAccessLogsBucket'
  | 'serverAccessLogsPrefix'
  | 'lifecycleRules'
  | 'objectOwnership'
  | 'bucketName'
> {
  /** Keep the bucket and its objects when the stack is deleted; otherwise empty and delete it. */
  readonly retain: boolean;
}

/**
 * An S3 bucket with the project's baseline: public access blocked, TLS 1.2+ only, versioned,
 * object events to EventBridge, KMS with a bucket key when a key is given. The two controls it does
 * not meet by design (cross-region replication, Object Lock) are acknowledged here with the reason.
 */
export function secureBucket(scope: Construct, id: string, props: SecureBucketProps): s3.Bucket {
  const { retain, ...rest } = props;
  const bucket = new s3.Bucket(scope, id, {
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    enforceSSL: true,
    minimumTLSVersion: 1.2,
    versioned: true,
    bucketKeyEnabled: props.encryptionKey !== undefined,
    removalPolicy: retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    autoDeleteObjects: !retain,
    ...rest,
  });
  // Object-level events go to EventBridge (input arrival, audits) without a notifications custom resource.
  (bucket.node.defaultChild as s3.CfnBucket).notificationConfiguration = {
    eventBridgeConfiguration: { eventBridgeEnabled: true },
  };
  acknowledge(
    bucket,
    [Finding.nist('S3BucketReplicationEnabled'), Finding.hipaa('S3BucketReplicationEnabled')],
    'Single-region service: the bucket is versioned (deletes and overwrites are recoverable) and retained in prod; ' +
      'cross-region replication needs a replica region and account that the operator chooses.',
  );
  acknowledge(
    bucket,
    [Finding.guard('s3_bucket_object_lock_enabled_check')],
    'Object Lock would forbid the lifecycle expiry that enforces the configured retention period; ' +
      'versioning, KMS and TLS-only access protect the objects instead.',
  );
  return bucket;
}

/**
 * Acknowledges the findings of an access-log destination bucket, which cannot meet them by design.
 */
export function acknowledgeAccessLogBucket(bucket: s3.IBucket): void {
  acknowledge(
    bucket,
    [
      Finding.nist('S3DefaultEncryptionKMS'),
      Finding.hipaa('S3DefaultEncryptionKMS'),
      Finding.guard('s3_bucket_default_encryption_kms_check'),
    ],
    'S3 server access log delivery supports only SSE-S3 on the destination bucket (S3 User Guide, "Enabling Amazon S3 server access logging").',
  );
  acknowledge(
    bucket,
    [Finding.guard('s3_bucket_logging_enabled_check')],
    'This bucket is the access-log destination; logging its own access into itself would loop.',
  );
}
