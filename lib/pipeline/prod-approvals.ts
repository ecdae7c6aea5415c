import { Stack } from 'aws-cdk-lib';
import * as codepipeline from 'aws-cdk-lib/aws-codepipeline';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { EncryptionKey } from '../app/encryption-key';

/** Properties of {@link ProdApprovals}. */
export interface ProdApprovalsProps {
  /** ARNs of the IAM roles or users (this account) who may approve; config's `approvals.approvers`. */
  readonly approvers: readonly string[];
  /** Addresses subscribed to the approval topic. @default - none */
  readonly emails?: readonly string[];
}

/**
 * Who approves prod and who hears about it: a KMS-encrypted, TLS-only topic that the prod approval
 * action announces each pending approval to (CodePipeline's message carries the review link and the
 * action's comment with the commit), and once the pipeline is built, a managed policy attached to
 * the named approvers that allows `codepipeline:PutApprovalResult` on that one action.
 */
export class ProdApprovals extends Construct {
  /** Each pending prod approval is announced here. */
  readonly topic: sns.Topic;
  /** The approvers' policy, once {@link grantApproval} ran. */
  approverPolicy?: iam.ManagedPolicy;
  private readonly approvers: readonly string[];

  constructor(scope: Construct, id: string, props: ProdApprovalsProps) {
    super(scope, id);
    this.approvers = props.approvers;
    const key = new EncryptionKey(this, 'Key', {
      description: 'Encrypts the prod approval notifications',
    }).key;
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'Prod approval waiting',
      masterKey: key,
      enforceSSL: true,
    });
    for (const email of props.emails ?? []) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(email));
    }
  }

  /**
   * After `buildPipeline()`: lets the approval action's role (which CodePipeline publishes the
   * notification with) publish to the topic, and gives the approvers their policy on `actionName` of
   * `stageName` only, plus the reads the console needs to show them the approval.
   */
  grantApproval(pipeline: codepipeline.Pipeline, stageName: string, actionName: string): void {
    // CodePipeline publishes the notification with the approval action's own role.
    const actionRole = pipeline.node
      .findAll()
      .find((c) => c.node.path.endsWith(`/${stageName}/${actionName}/CodePipelineActionRole`));
    if (!(actionRole instanceof iam.Role)) {
      throw new Error(`no CodePipelineActionRole for ${stageName}/${actionName} in ${pipeline.node.path}`);
    }
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'ApprovalActionPublishesPendingApprovals',
        principals: [new iam.ArnPrincipal(actionRole.roleArn)],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
      }),
    );
    const stack = Stack.of(this);
    const actionArn = stack.formatArn({
      service: 'codepipeline',
      resource: pipeline.pipelineName,
      resourceName: `${stageName}/${actionName}`,
    });
    this.approverPolicy = new iam.ManagedPolicy(this, 'ApproverPolicy', {
      description: `Approve or reject the ${stageName} deploy of this pipeline (${actionName} only)`,
      statements: [
        new iam.PolicyStatement({
          sid: 'ApproveProdOnly',
          actions: ['codepipeline:PutApprovalResult'],
          resources: [actionArn],
        }),
        new iam.PolicyStatement({
          sid: 'SeeThePipeline',
          actions: [
            'codepipeline:GetPipeline',
            'codepipeline:GetPipelineState',
            'codepipeline:GetPipelineExecution',
            'codepipeline:ListPipelineExecutions',
          ],
          resources: [pipeline.pipelineArn],
        }),
      ],
      roles: this.approvers
        .filter((arn) => /:role\//.test(arn))
        .map((arn, i) => iam.Role.fromRoleArn(this, `Approver${i}`, arn, { mutable: true })),
      users: this.approvers
        .filter((arn) => /:user\//.test(arn))
        .map((arn, i) => iam.User.fromUserArn(this, `ApproverUser${i}`, arn)),
    });
  }
}

/** The stage and action name of the one manual approval in `stageName` of the built pipeline. */
export function approvalActionOf(
  pipeline: codepipeline.Pipeline,
  stageName: string,
): { readonly stageName: string; readonly actionName: string } {
  const stage = pipeline.stages.find((s) => s.stageName === stageName);
  const approvals = (stage?.actions ?? []).filter(
    (a) => a.actionProperties.category === codepipeline.ActionCategory.APPROVAL,
  );
  if (approvals.length !== 1) {
    throw new Error(`expected one manual approval in pipeline stage ${stageName}, found ${approvals.length}`);
  }
  return { stageName, actionName: approvals[0]!.actionProperties.actionName };
}
