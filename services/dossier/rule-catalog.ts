/**
 * What each compliance rule requires, read from the rule packs the synth runs: cdk-nag's packs
 * (each rule's `info`: what it flags) and the cfn-guard Control Tower rule files (their
 * "Description"), so the dossier explains an acknowledgement without a copy of the rule texts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, CfnResource, Stack } from 'aws-cdk-lib';
import {
  AwsSolutionsChecks,
  HIPAASecurityChecks,
  NagPack,
  NIST80053R5Checks,
  type IApplyRule,
} from 'cdk-nag';

/** What a rule requires, by rule id as acknowledgements name it (`AwsSolutions-IAM5`, `s3_bucket_..._check`). */
export type RuleCatalog = ReadonlyMap<string, string>;

type PackClass = new (scope?: App) => NagPack;

/** Collects every rule a pack applies to a resource instead of evaluating it. */
function nagRules(Pack: PackClass, into: Map<string, string>): void {
  const app = new App();
  const probe = new CfnResource(new Stack(app, 'Probe'), 'Probe', { type: 'AWS::S3::Bucket' });
  const pack = new Pack(app);
  const packName = pack.readPackName;
  const record = (params: IApplyRule): void => {
    const id = `${packName}-${params.ruleSuffixOverride ?? params.rule.name}`;
    into.set(id, params.info.trim());
  };
  // checkResource is protected: call it through the pack with applyRule replaced by the recorder.
  const instance = pack as unknown as {
    applyRule: (params: IApplyRule) => void;
    checkResource: (node: CfnResource) => void;
  };
  instance.applyRule = record;
  instance.checkResource(probe);
}

function guardRules(into: Map<string, string>): void {
  const root = path.join(
    path.dirname(require.resolve('@cdklabs/cdk-validator-cfnguard/package.json')),
    'rules',
  );
  const walk = (dir: string): void => {
    if (!fs.existsSync(dir)) return;
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.guard')) {
        const text = fs.readFileSync(full, 'utf8');
        const id = /#\s*Rule Identifier:\s*\n#\s*(\S+)/.exec(text)?.[1];
        const description = /#\s*Description:\s*\n((?:#[ \t]{2,}\S.*\n)+)/.exec(text)?.[1];
        if (id && description) {
          into.set(
            id,
            description
              .split('\n')
              .map((l) => l.replace(/^#\s*/, '').trim())
              .filter(Boolean)
              .join(' '),
          );
        }
      }
    }
  };
  walk(root);
}

let cached: RuleCatalog | undefined;

/** The catalog of every rule of the packs the synth runs (built once per process). */
export function ruleCatalog(): RuleCatalog {
  if (cached) return cached;
  const rules = new Map<string, string>();
  for (const Pack of [AwsSolutionsChecks, NIST80053R5Checks, HIPAASecurityChecks] as PackClass[])
    nagRules(Pack, rules);
  guardRules(rules);
  cached = rules;
  return rules;
}
