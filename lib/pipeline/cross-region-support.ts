import { Duration, PhysicalName, Stack, type StackProps } from 'aws-cdk-lib';
import type * as codepipeline from 'aws-cdk-lib/aws-codepipeline';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { EncryptionKey } from '../app/encryption-key';
import { acknowledgeAccessLogBucket, secureBucket } from '../app/secure-bucket';
import type { DeploymentTarget } from '../stages/stage-config';

/** Properties of {@link CrossRegionSupportStack}. */
export interface CrossRegionSupportStackProps extends StackProps {
  /** Name of the pipeline stack this stack supports; its stack name is derived from it. */
  readonly pipelineStackName: string;
}

/**
 * The artifact store of the pipeline in a region where a stage deploys but the pipeline does not
 * run. CodePipeline copies each artifact there before a deploy action in that region reads it.
 * It is in the pipeline's account and is hardened like the main artifact store: a rotated KMS key
 * (cross-account deploy roles get decrypt grants on it), TLS only, versioned, access-logged, and
 * objects that expire.
 *
 * CDK Pipelines would create such a stack itself (`crossAccountKeys: true`). It cannot here,
 * because the pipeline brings its own artifact bucket. The bucket and key alias get physical names
 * because the pipeline stack, in another region, refers to them by name.
 */
export class CrossRegionSupportStack extends Stack {
  /** The replication bucket CodePipeline uses in this region. */
  readonly replicationBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: CrossRegionSupportStackProps) {
    super(scope, id, {
      ...props,
      stackName: `${props.pipelineStackName}-support-${props.env?.region ?? ''}`,
      description: `Pipeline artifact store in ${props.env?.region ?? 'a stage region'} for cross-region deploy actions`,
    });
    const key = new EncryptionKey(this, 'ReplicationKey', {
      description:
        'Encrypts pipeline artifacts replicated to this region; shared with the stage deployment roles',
    }).key;
    const alias = new kms.Alias(this, 'ReplicationKeyAlias', {
      targetKey: key,
      aliasName: PhysicalName.GENERATE_IF_NEEDED,
    });
    const accessLogs = secureBucket(this, 'ReplicationAccessLogs', {
      retain: true,
      encryption: s3.BucketEncryption.S3_MANAGED,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ expiration: Duration.days(365), noncurrentVersionExpiration: Duration.days(30) }],
    });
    acknowledgeAccessLogBucket(accessLogs);
    this.replicationBucket = secureBucket(this, 'ReplicationBucket', {
      retain: true,
      bucketName: PhysicalName.GENERATE_IF_NEEDED,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: alias,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'artifacts/',
      lifecycleRules: [{ expiration: Duration.days(90), noncurrentVersionExpiration: Duration.days(30) }],
    });
  }
}

/**
 * The artifact stores of a pipeline whose stages deploy to `targets`: `artifactBucket` alone while
 * every stage is in the pipeline's region, otherwise that bucket for the pipeline's region plus one
 * {@link CrossRegionSupportStack} per other region, which the pipeline stack depends on so they
 * deploy first. Spread into `codepipeline.Pipeline`'s props.
 */
export function artifactStores(
  pipelineStack: Stack,
  artifactBucket: s3.IBucket,
  targets: readonly DeploymentTarget[],
): Pick<codepipeline.PipelineProps, 'artifactBucket' | 'crossRegionReplicationBuckets'> {
  const regions = [...new Set(targets.map((t) => t.region))].filter((r) => r !== pipelineStack.region);
  if (regions.length === 0) return { artifactBucket };
  const buckets: Record<string, s3.IBucket> = { [pipelineStack.region]: artifactBucket };
  const scope = pipelineStack.node.scope as Construct;
  for (const region of regions) {
    const support = new CrossRegionSupportStack(scope, `${pipelineStack.node.id}-support-${region}`, {
      env: { account: pipelineStack.account, region },
      pipelineStackName: pipelineStack.stackName,
    });
    pipelineStack.addStackDependency(support, 'replication buckets must exist before the pipeline uses them');
    buckets[region] = support.replicationBucket;
  }
  return { crossRegionReplicationBuckets: buckets };
}
