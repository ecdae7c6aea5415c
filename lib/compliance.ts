import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  Stage,
  Validations,
  type App,
  type IPolicyValidationContext,
  type IPolicyValidationPlugin,
  type PolicyValidationPluginReport,
} from 'aws-cdk-lib';
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
    new ControlTowerGuard(),
  );
}

const CONTROL_TOWER_RULES = path.join(
  path.dirname(require.resolve('@cdklabs/cdk-validator-cfnguard/package.json')),
  'rules',
  'control-tower',
  'cfn-guard',
);

function guardFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return guardFiles(full);
    return entry.name.endsWith('.guard') ? [full] : [];
  });
}

/**
 * Names of the Control Tower rules that cannot apply to these templates: every rule file declares
 * the resource types it evaluates as `"AWS::..."` constants, and a rule whose types appear in no
 * template can report nothing. Skipping them cuts cfn-guard's share of synth by two thirds.
 */
export function inapplicableGuardRules(
  templatePaths: readonly string[],
  ruleFiles: readonly string[],
): string[] {
  const present = new Set<string>();
  for (const file of templatePaths) {
    const template = JSON.parse(fs.readFileSync(file, 'utf8')) as {
      Resources?: Record<string, { Type?: string }>;
    };
    for (const resource of Object.values(template.Resources ?? {})) {
      if (resource.Type) present.add(resource.Type);
    }
  }
  return ruleFiles
    .filter((file) => {
      const types = fs.readFileSync(file, 'utf8').match(/"AWS::[A-Za-z0-9]+::[A-Za-z0-9]+"/g) ?? [];
      return types.length > 0 && !types.some((type) => present.has(type.slice(1, -1)));
    })
    .map((file) => path.parse(file).name);
}

/**
 * cfn-guard with the Control Tower proactive controls, run only with the rules that can apply to
 * the templates at hand (same findings, same `cdk-validator-cfnguard::<rule>` ids to acknowledge).
 */
class ControlTowerGuard implements IPolicyValidationPlugin {
  readonly name = 'cdk-validator-cfnguard';

  validate(context: IPolicyValidationContext): PolicyValidationPluginReport {
    const disabledRules = inapplicableGuardRules(context.templatePaths, guardFiles(CONTROL_TOWER_RULES));
    return new CfnGuardValidator({ controlTowerRulesEnabled: true, disabledRules }).validate(context);
  }
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
