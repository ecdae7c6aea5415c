import { Lazy, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

/** Properties of {@link EncryptionKey}. */
export interface EncryptionKeyProps {
  /** What the key protects, shown in the console. */
  readonly description: string;
  /** Keep the key when the stack is deleted. @default false (pending deletion after 7 days) */
  readonly retain?: boolean;
}

/**
 * A customer-managed KMS key with yearly rotation that CloudWatch Logs in this account may use, and
 * that only AWS services may create grants on (Control Tower CT.KMS.PR.3).
 *
 * Each stack owns the key of the log groups and queues it creates: Control Tower's guard rules
 * accept a key only when it is referenced inside the same template.
 */
export class EncryptionKey extends Construct {
  /** The key. */
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: EncryptionKeyProps) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: props.description,
      enableKeyRotation: true,
      removalPolicy: props.retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    const { region, account } = Stack.of(this);
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchLogsInThisAccount',
        principals: [new iam.ServicePrincipal(`logs.${region}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: { 'kms:EncryptionContext:aws:logs:arn': `arn:aws:logs:${region}:${account}:log-group:*` },
        },
      }),
    );
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'GrantsOnlyForAwsServices',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['kms:CreateGrant'],
        resources: ['*'],
        conditions: {
          BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' },
        },
      }),
    );
  }
}

interface KeyPolicyStatement {
  readonly Principal?: { readonly Service?: unknown };
  readonly Condition?: unknown;
}

/**
 * Limits the statement Step Functions adds to `key`'s policy for encrypted execution logs
 * (`delivery.logs.amazonaws.com` may `kms:Decrypt*`, with no condition) to log deliveries of this
 * account and region (aws:SourceAccount and aws:SourceArn), as the CloudWatch Logs vended-logs
 * documentation recommends against the confused deputy.
 */
export function scopeLogDeliveryToAccount(key: kms.IKey): void {
  const cfnKey = key.node.defaultChild;
  if (!(cfnKey instanceof kms.CfnKey)) return;
  const stack = Stack.of(key);
  const original: unknown = cfnKey.keyPolicy;
  cfnKey.keyPolicy = Lazy.any({
    produce: () => {
      const document = stack.resolve(original) as { Statement?: KeyPolicyStatement[] };
      return {
        ...document,
        Statement: (document.Statement ?? []).map((st) =>
          st.Principal?.Service === 'delivery.logs.amazonaws.com' && st.Condition === undefined
            ? {
                ...st,
                Condition: {
                  StringEquals: { 'aws:SourceAccount': stack.account },
                  ArnLike: {
                    'aws:SourceArn': `arn:${stack.partition}:logs:${stack.region}:${stack.account}:*`,
                  },
                },
              }
            : st,
        ),
      };
    },
  });
}
