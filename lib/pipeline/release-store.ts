import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import { Construct } from 'constructs';
import { EncryptionKey } from '../app/encryption-key';
import { secureBucket } from '../app/secure-bucket';
import { acknowledge, Finding } from '../compliance';
import { DOSSIERS_PREFIX, LATEST_KEY, RELEASES_PREFIX } from '../../services/dossier/release';

/** Properties of {@link ReleaseStore}. */
export interface ReleaseStoreProps {
  /** Where the store's S3 server access logs go (the pipeline's access-log bucket). */
  readonly accessLogs: s3.IBucket;
  /** Days a candidate dossier (`dossiers/<execution id>/`) is kept. @default 400 */
  readonly dossierRetentionDays?: number;
}

/**
 * The release store in the pipeline account: every release that reached prod (its commit, each
 * stack's template, the compliance result and the approved dossier, under `releases/<id>/`, with
 * `releases/latest.json` naming the newest) and the dossier of each pipeline execution the prod
 * approval links to (`dossiers/<execution id>/`). Hardened like the artifact bucket: its own
 * rotated KMS key, TLS only, versioned, access-logged, retained.
 */
export class ReleaseStore extends Construct {
  /** The bucket. */
  readonly bucket: s3.Bucket;
  /** The bucket's key. */
  readonly key: kms.IKey;

  constructor(scope: Construct, id: string, props: ReleaseStoreProps) {
    super(scope, id);
    this.key = new EncryptionKey(this, 'Key', {
      description: 'Encrypts the release store: approved releases and the dossiers approvers read',
      retain: true,
    }).key;
    this.bucket = secureBucket(this, 'Bucket', {
      retain: true,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      serverAccessLogsBucket: props.accessLogs,
      serverAccessLogsPrefix: 'release-store/',
      lifecycleRules: [
        { prefix: DOSSIERS_PREFIX, expiration: Duration.days(props.dossierRetentionDays ?? 400) },
        // Releases are history: current versions stay; overwritten or deleted ones go after a year.
        { noncurrentVersionExpiration: Duration.days(365) },
      ],
    });
  }

  /** `s3://bucket` for the dossier CLI's `--store`. */
  get url(): string {
    return `s3://${this.bucket.bucketName}`;
  }

  /**
   * What the Dossier step may do: read recorded releases (and list exactly the latest pointer, so a
   * missing one reads as "first release", not as access denied), and write the candidate dossier.
   */
  dossierStatements(): iam.PolicyStatement[] {
    return [
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [this.bucket.bucketArn],
        conditions: { StringEquals: { 's3:prefix': LATEST_KEY } },
      }),
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [this.bucket.arnForObjects(`${RELEASES_PREFIX}*`)],
      }),
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects(`${DOSSIERS_PREFIX}*`)],
      }),
      new iam.PolicyStatement({
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [this.key.keyArn],
      }),
    ];
  }

  /** What the RecordRelease step may do: write releases, nothing else. */
  recordStatements(): iam.PolicyStatement[] {
    return [
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects(`${RELEASES_PREFIX}*`)],
      }),
      new iam.PolicyStatement({ actions: ['kms:GenerateDataKey'], resources: [this.key.keyArn] }),
    ];
  }

  /**
   * Lets the approvers open the dossiers (and nothing else in the store): read `dossiers/*` and
   * decrypt with the store's key, which the S3 console's "Open" of the review link needs.
   */
  grantReadDossiers(policy: iam.ManagedPolicy): void {
    const objects = this.bucket.arnForObjects(`${DOSSIERS_PREFIX}*`);
    policy.addStatements(
      new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [objects] }),
      new iam.PolicyStatement({ actions: ['kms:Decrypt'], resources: [this.key.keyArn] }),
    );
    const finding = `Resource::${flattenCfnReference(Stack.of(this).resolve(objects))}`;
    acknowledge(
      policy,
      [Finding.awsSolutions(`IAM5[${finding}]`)],
      'Approvers read the dossier of the execution they approve, under dossiers/<execution id>/; the id exists only at run time. Read only, and only under dossiers/.',
    );
  }

  /**
   * The console page of an execution's dossier (`executionId` is usually the pipeline variable
   * `#{codepipeline.PipelineExecutionId}`): the approver opens it signed in to the pipeline account,
   * so no presigned URL expires before the approval.
   */
  reviewUrl(executionId: string): string {
    const { region } = Stack.of(this);
    return (
      `https://${region}.console.aws.amazon.com/s3/object/${this.bucket.bucketName}` +
      `?region=${region}&bucketType=general&prefix=${DOSSIERS_PREFIX}${executionId}/dossier.html`
    );
  }
}
