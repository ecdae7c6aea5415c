import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as backup from 'aws-cdk-lib/aws-backup';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge, Finding } from '../../compliance';
import { EncryptionKey } from '../encryption-key';
import { acknowledgeAccessLogBucket, secureBucket } from '../secure-bucket';

/** Properties of {@link DataStore}. */
export interface DataStoreProps {
  /** Keep the key, buckets and table when the stack is deleted (prod), or remove them (dev). */
  readonly retainData: boolean;
  /** Days server access logs and data-capture objects are kept; also noncurrent object versions. */
  readonly dataRetentionDays: number;
}

/** Name of the global secondary index that lists predictions of one model version by time. */
export const MODEL_VERSION_INDEX = 'modelVersionIndex';
/** Attribute that holds a prediction's expiry (epoch seconds); DynamoDB TTL deletes the item after it. */
export const TTL_ATTRIBUTE = 'expirationTime';

/**
 * The stateful core of a stage: one customer-managed KMS key, the S3 buckets and the predictions
 * table. Everything is encrypted with the key, TLS-only, versioned and expires by lifecycle rules.
 */
export class DataStore extends Construct {
  /** Key that encrypts every bucket, the table, logs, queues and the stream of the stage. */
  readonly key: kms.Key;
  /** Receives S3 server access logs of the other buckets (SSE-S3: log delivery cannot use SSE-KMS). */
  readonly accessLogsBucket: s3.Bucket;
  /** Versioned store of model artifacts. */
  readonly modelBucket: s3.Bucket;
  /** JSON-lines input of batch scoring (`pending/`, `processed/`, `failed/`). */
  readonly batchBucket: s3.Bucket;
  /** Analytics predictions, endpoint data capture and Athena query results. */
  readonly dataBucket: s3.Bucket;
  /** Predictions by id, with TTL, a per-model-version index, PITR and a stream. */
  readonly table: dynamodb.Table;

  private readonly removalPolicy: RemovalPolicy;

  constructor(scope: Construct, id: string, props: DataStoreProps) {
    super(scope, id);
    this.removalPolicy = props.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    this.key = new EncryptionKey(this, 'Encryption', {
      description: 'Encrypts the buckets, table and backups of the ML inference stage',
      retain: props.retainData,
    }).key;

    const lifecycleRules = (expireDays?: number): s3.LifecycleRule[] => [
      {
        id: 'tidy',
        abortIncompleteMultipartUploadAfter: Duration.days(7),
        noncurrentVersionExpiration: Duration.days(props.dataRetentionDays),
        ...(expireDays ? { expiration: Duration.days(expireDays) } : {}),
      },
    ];

    this.accessLogsBucket = secureBucket(this, 'AccessLogs', {
      retain: props.retainData,
      encryption: s3.BucketEncryption.S3_MANAGED,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: lifecycleRules(props.dataRetentionDays),
    });
    this.modelBucket = this.loggedBucket('Models', 'models/', lifecycleRules());
    this.batchBucket = this.loggedBucket('BatchInput', 'batch/', lifecycleRules());
    this.dataBucket = this.loggedBucket('Data', 'data/', [
      ...lifecycleRules(),
      { id: 'data-capture', prefix: 'data-capture/', expiration: Duration.days(props.dataRetentionDays) },
      { id: 'athena-results', prefix: 'athena-results/', expiration: Duration.days(30) },
    ]);

    this.table = new dynamodb.Table(this, 'Predictions', {
      partitionKey: { name: 'predictionId', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.key,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: TTL_ATTRIBUTE,
      stream: dynamodb.StreamViewType.NEW_IMAGE,
      deletionProtection: props.retainData,
      removalPolicy: this.removalPolicy,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: MODEL_VERSION_INDEX,
      partitionKey: { name: 'modelVersion', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'timestamp', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });

    const vault = new backup.BackupVault(this, 'BackupVault', {
      encryptionKey: this.key,
      removalPolicy: this.removalPolicy,
    });
    const plan = backup.BackupPlan.daily35DayRetention(this, 'Backup', vault);
    const selection = plan.addSelection('Predictions', {
      resources: [backup.BackupResource.fromDynamoDbTable(this.table)],
    });
    acknowledge(
      selection,
      [
        Finding.awsSolutions(
          'IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup]',
        ),
      ],
      'AWSBackupServiceRolePolicyForBackup is the policy AWS Backup documents for its service role; AWS keeps it in step with the services Backup supports.',
    );

    acknowledgeAccessLogBucket(this.accessLogsBucket);
  }

  private loggedBucket(id: string, logPrefix: string, lifecycleRules: s3.LifecycleRule[]): s3.Bucket {
    return secureBucket(this, id, {
      retain: this.removalPolicy === RemovalPolicy.RETAIN,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: logPrefix,
      lifecycleRules,
    });
  }
}
