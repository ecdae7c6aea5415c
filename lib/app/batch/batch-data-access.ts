import { Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import { BATCH_PREFIXES } from '../../../services/batch/naming';
import { acknowledge, Finding } from '../../compliance';

/** Prefix of the data bucket the Glue `predictions` table covers; the batch scorer writes under it. */
export const ANALYTICS_PREFIX = 'analytics/predictions/';
/** Prefix of the data bucket the Glue `feedback` table covers (ground truth callers sent). */
export const FEEDBACK_PREFIX = 'analytics/feedback/';

/** Properties of {@link BatchDataAccess}. */
export interface BatchDataAccessProps {
  /** Bucket with `pending/`, `processed/`, `failed/` and `checkpoints/`. */
  readonly batchBucket: s3.IBucket;
  /** Bucket of the analytics prefix. */
  readonly dataBucket: s3.IBucket;
  /** Key of both buckets and the table. */
  readonly key: kms.IKey;
  /** Predictions table. */
  readonly table: dynamodb.ITable;
}

/**
 * What the batch scorer may do with the stage's data, as a managed policy for its job role: list the
 * batch bucket; read and delete `pending/` input; read and write `checkpoints/`, `processed/`,
 * `failed/` and the analytics prefix; get and put single items of the table; use the data key.
 *
 * It lives in the stack that owns the buckets (like `PrefixWriteAccess`), so each per-prefix object
 * wildcard is a local reference that is acknowledged one by one with its reason.
 */
export class BatchDataAccess extends Construct {
  /** Attach to the scorer's job role. */
  readonly policy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: BatchDataAccessProps) {
    super(scope, id);
    const { pending, processed, failed, checkpoints } = BATCH_PREFIXES;
    const batchObjects = (prefix: string): string => props.batchBucket.arnForObjects(`${prefix}*`);
    const objectAccess: [string, string[], string][] = [
      [
        batchObjects(pending),
        ['s3:GetObject', 's3:DeleteObject'],
        'reads each input and removes it once moved',
      ],
      [
        batchObjects(checkpoints),
        ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
        'keeps per-input progress so a crashed run resumes without loss or duplicates',
      ],
      [batchObjects(processed), ['s3:GetObject', 's3:PutObject'], 'moves finished input here'],
      [batchObjects(failed), ['s3:GetObject', 's3:PutObject'], 'moves unreadable input here with the reason'],
      [
        props.dataBucket.arnForObjects(`${ANALYTICS_PREFIX}*`),
        ['s3:GetObject', 's3:PutObject'],
        'writes partitioned prediction lines (dt=/hour=) the Glue table reads',
      ],
    ];
    this.policy = new iam.ManagedPolicy(this, 'Policy', {
      description: 'Batch scorer: batch input prefixes, analytics prefix, predictions table items, data key',
      statements: [
        new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [props.batchBucket.bucketArn] }),
        ...objectAccess.map(
          ([resource, actions]) => new iam.PolicyStatement({ actions, resources: [resource] }),
        ),
        new iam.PolicyStatement({
          actions: [
            'dynamodb:BatchGetItem',
            'dynamodb:BatchWriteItem',
            'dynamodb:GetItem',
            'dynamodb:PutItem',
          ],
          resources: [props.table.tableArn],
        }),
        new iam.PolicyStatement({
          actions: ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'],
          resources: [props.key.keyArn],
        }),
      ],
    });
    const stack = Stack.of(this);
    for (const [resource, , why] of objectAccess) {
      acknowledge(
        this.policy,
        [Finding.awsSolutions(`IAM5[Resource::${flattenCfnReference(stack.resolve(resource))}]`)],
        `Object keys under this prefix are named after the input files, not known at deploy time; the scorer ${why}. The wildcard is limited to this one prefix and these exact actions.`,
      );
    }
  }
}
