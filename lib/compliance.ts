import { Stage, Validations, type App } from 'aws-cdk-lib';
import { CfnPolicy } from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';
import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';
import { AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks } from 'cdk-nag';

/**
 * Registers every compliance check once, on the App, so it reaches every stack of every stage:
 * cdk-nag's AWS Solutions, NIST 800-53 R5 and HIPAA Security packs and cfn-guard's Control Tower
 * proactive controls. Any finding that is not acknowledged on its resource fails synth, and the
 * results are written to `cdk.out/validation-report.json`.
 */
export function addComplianceChecks(app: App): void {
  Validations.of(app).addPlugins(
    new AwsSolutionsChecks(app),
    new NIST80053R5Checks(app),
    new HIPAASecurityChecks(app),
    new CfnGuardValidator({ controlTowerRulesEnabled: true }),
  );
}

/**
 * Acknowledges findings of one resource, each by its full id as synth prints it
 * (`AwsSolutions::AwsSolutions-IAM5[Resource::*]`, `cdk-validator-cfnguard::s3_bucket_logging_enabled_check`),
 * all for the same specific reason. Never used for a whole stack or stage.
 */
export function acknowledge(construct: IConstruct, findings: string[], reason: string): void {
  for (const id of findings) {
    Validations.of(construct).acknowledge({ id, reason });
  }
}

/** Finding ids by pack, so an acknowledgement reads as the rule it answers. */
export const Finding = {
  awsSolutions: (rule: string) => `AwsSolutions::AwsSolutions-${rule}`,
  nist: (rule: string) => `NIST.800.53.R5::NIST.800.53.R5-${rule}`,
  hipaa: (rule: string) => `HIPAA.Security::HIPAA.Security-${rule}`,
  guard: (rule: string) => `cdk-validator-cfnguard::${rule}`,
};

/**
 * Acknowledges the one finding of the custom-resource providers CDK adds to a stack for bucket
 * auto-delete (dev) and the default-security-group lockdown: they are CDK-owned functions with no
 * VPC option.
 */
export function acknowledgeCdkProviders(stack: IConstruct): void {
  for (const child of stack.node.children) {
    if (/^Custom::.+CustomResourceProvider$/.test(child.node.id)) {
      acknowledge(
        child,
        [Finding.guard('lambda_inside_vpc_check')],
        'CDK-owned custom-resource provider that runs only during deployment and calls the S3/EC2 control plane; CDK offers no VPC placement for it.',
      );
    }
  }
}

/**
 * Acknowledges NIST/HIPAA IAMNoInlinePolicy on each policy CDK generates from grants: one per role,
 * attached to that role only. Call after the scope's last grant.
 */
export function acknowledgeGrantPolicies(scope: IConstruct): void {
  for (const node of ownConstructs(scope)) {
    if (node instanceof CfnPolicy) {
      acknowledge(
        node,
        [Finding.nist('IAMNoInlinePolicy'), Finding.hipaa('IAMNoInlinePolicy')],
        "CDK's per-role policy generated from grants and attached to exactly one role; it is not shared, so a managed policy would add nothing but a separately versioned object.",
      );
    }
  }
}

/** Constructs under a scope, without descending into nested Stages (which acknowledge their own). */
export function ownConstructs(scope: IConstruct): IConstruct[] {
  const found: IConstruct[] = [];
  const visit = (node: IConstruct): void => {
    found.push(node);
    for (const child of node.node.children) {
      if (!Stage.isStage(child)) visit(child);
    }
  };
  visit(scope);
  return found;
}
