import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { addComplianceChecks } from '../../lib/compliance';
import { PipelineStack } from '../../lib/pipeline/pipeline-stack';
import { validateConfig, type AppConfig } from '../../lib/stages/stage-config';
import { templateOnlyContext, tempOutdir, testConfig } from '../support/cdk-app';

/** Account and region layouts of pipeline, dev and prod that users deploy. */
interface Layout {
  readonly name: string;
  readonly accounts: [string, string, string];
  readonly regions: [string, string, string];
}

const ONE = '111111111111';
const LAYOUTS: Layout[] = [
  {
    name: 'three accounts, one region',
    accounts: [ONE, '222222222222', '333333333333'],
    regions: ['us-east-1', 'us-east-1', 'us-east-1'],
  },
  {
    name: 'three accounts, prod in a second region',
    accounts: [ONE, '222222222222', '333333333333'],
    regions: ['us-east-1', 'us-east-1', 'eu-west-1'],
  },
  {
    name: 'three accounts, three regions',
    accounts: [ONE, '222222222222', '333333333333'],
    regions: ['us-west-2', 'us-east-1', 'eu-west-1'],
  },
  {
    name: 'one account, prod in a second region',
    accounts: [ONE, ONE, ONE],
    regions: ['us-east-1', 'us-east-1', 'eu-west-1'],
  },
  {
    name: 'one account, three regions',
    accounts: [ONE, ONE, ONE],
    regions: ['us-west-2', 'us-east-1', 'eu-west-1'],
  },
];

function configOf(layout: Layout): AppConfig {
  const [pipelineAccount, devAccount, prodAccount] = layout.accounts;
  const [pipelineRegion, devRegion, prodRegion] = layout.regions;
  const zones = (region: string) => [`${region}a`, `${region}b`];
  return validateConfig({
    ...testConfig,
    pipeline: { account: pipelineAccount, region: pipelineRegion },
    dev: {
      ...testConfig.dev,
      target: { account: devAccount, region: devRegion },
      availabilityZones: zones(devRegion),
    },
    prod: {
      ...testConfig.prod,
      target: { account: prodAccount, region: prodRegion },
      availabilityZones: zones(prodRegion),
    },
  });
}

interface Resource {
  Type: string;
  Properties: Record<string, unknown>;
}
interface Template {
  Resources: Record<string, Resource>;
}
interface ArtifactStore {
  Region: string;
  ArtifactStore: { Location: unknown; EncryptionKey: { Id: unknown; Type: string } };
}

function synthesize(
  layout: Layout,
  withCompliance = false,
): { assembly: CloudAssembly; pipeline: PipelineStack } {
  const app = new App({ context: templateOnlyContext(), outdir: tempOutdir() });
  if (withCompliance) addComplianceChecks(app);
  const config = configOf(layout);
  const pipeline = new PipelineStack(app, 'MlInferencePipeline', {
    env: { account: config.pipeline.account, region: config.pipeline.region },
    config,
  });
  return { assembly: app.synth(), pipeline };
}

const templateOf = (assembly: CloudAssembly, stackName: string): Template =>
  assembly.getStackByName(stackName).template as Template;

const resourcesOf = (template: Template, type: string): [string, Resource][] =>
  Object.entries(template.Resources).filter(([, r]) => r.Type === type);

describe.each(LAYOUTS)('layout: $name', (layout) => {
  let assembly: CloudAssembly;
  let pipeline: PipelineStack;
  let stores: ArtifactStore[] | undefined;
  const [pipelineRegion, devRegion, prodRegion] = layout.regions;
  const otherRegions = [...new Set([devRegion, prodRegion])].filter((r) => r !== pipelineRegion);

  beforeAll(() => {
    ({ assembly, pipeline } = synthesize(layout));
    const [, codePipeline] = resourcesOf(
      templateOf(assembly, pipeline.stackName),
      'AWS::CodePipeline::Pipeline',
    )[0];
    stores = codePipeline.Properties.ArtifactStores as ArtifactStore[] | undefined;
  });

  it('deploys every stage stack in its own account and region', () => {
    for (const [stage, account, region] of [
      [pipeline.stages.dev, layout.accounts[1], devRegion],
      [pipeline.stages.prod, layout.accounts[2], prodRegion],
    ] as const) {
      const stacks = assembly.getNestedAssembly(stage.artifactId).stacks;
      expect(stacks.length).toBeGreaterThanOrEqual(5);
      for (const stack of stacks) expect(stack.environment).toMatchObject({ account, region });
    }
  });

  it('has a KMS-encrypted artifact store in the pipeline region and in every stage region', () => {
    if (otherRegions.length === 0) {
      expect(stores).toBeUndefined();
      return;
    }
    expect(stores!.map((s) => s.Region).sort()).toEqual([pipelineRegion, ...otherRegions].sort());
    for (const store of stores!) expect(store.ArtifactStore.EncryptionKey.Type).toBe('KMS');
    for (const region of otherRegions) {
      const store = stores!.find((s) => s.Region === region)!;
      // A physical name in the pipeline's account and the store's region, not a cross-region reference.
      expect(store.ArtifactStore.Location).toEqual(expect.any(String));
      expect(store.ArtifactStore.EncryptionKey.Id).toMatch(
        new RegExp(`^arn:aws:kms:${region}:${layout.accounts[0]}:alias/`),
      );
    }
  });

  it('puts each support stack in the pipeline account, deployed before the pipeline', () => {
    const support = assembly.stacks.filter((s) => s.stackName !== pipeline.stackName);
    expect(support.map((s) => s.environment.region).sort()).toEqual([...otherRegions].sort());
    const pipelineArtifact = assembly.getStackByName(pipeline.stackName);
    for (const stack of support) {
      expect(stack.environment.account).toBe(layout.accounts[0]);
      expect(pipelineArtifact.dependencies.map((d) => d.id)).toContain(stack.id);
    }
  });

  it("lets each stage's deploy role read and decrypt the artifacts in its region, and no one else outside the pipeline account", () => {
    for (const region of otherRegions) {
      const support = assembly.stacks.find((s) => s.environment.region === region)!;
      const template = support.template as Template;
      const deployers = [
        [layout.accounts[1], devRegion],
        [layout.accounts[2], prodRegion],
      ]
        .filter(([, r]) => r === region)
        .map(([account]) => `:iam::${account}:role/cdk-hnb659fds-deploy-role-${account}-${region}`);
      const [, store] = resourcesOf(template, 'AWS::S3::Bucket').find(([, r]) =>
        JSON.stringify(r.Properties.BucketEncryption).includes('aws:kms'),
      )!;
      expect(store.Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
      expect(store.Properties.LoggingConfiguration).toBeDefined();
      const policies = JSON.stringify(
        resourcesOf(template, 'AWS::S3::BucketPolicy').map(([, r]) => r.Properties),
      );
      const keys = JSON.stringify(
        resourcesOf(template, 'AWS::KMS::Key').map(([, r]) => r.Properties.KeyPolicy),
      );
      for (const deployer of deployers) {
        expect(policies).toContain(deployer);
        expect(keys).toContain(deployer);
      }
      const foreignAccounts = (text: string) =>
        [...text.matchAll(/:iam::(\d{12}):/g)].map((m) => m[1]).filter((a) => a !== layout.accounts[0]);
      const allowed = new Set(deployers.map((d) => /:iam::(\d{12}):/.exec(d)![1]));
      for (const account of [...foreignAccounts(policies), ...foreignAccounts(keys)]) {
        expect(allowed).toContain(account);
      }
    }
  });
});

describe('a stage in another region than the pipeline, and a pipeline in a third', () => {
  it('passes every compliance pack with no open finding', () => {
    const { assembly } = synthesize(LAYOUTS[2], true);
    const report = JSON.parse(
      fs.readFileSync(path.join(assembly.directory, 'validation-report.json'), 'utf8'),
    ) as {
      pluginReports: { pluginName: string; violations: unknown[] }[];
    };
    expect(report.pluginReports.map((r) => r.pluginName)).toEqual(
      expect.arrayContaining(['AwsSolutions', 'NIST.800.53.R5', 'HIPAA.Security', 'cdk-validator-cfnguard']),
    );
    for (const plugin of report.pluginReports) {
      expect({ plugin: plugin.pluginName, violations: plugin.violations }).toEqual({
        plugin: plugin.pluginName,
        violations: [],
      });
    }
  });
});
