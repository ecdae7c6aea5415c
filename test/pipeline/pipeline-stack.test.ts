import * as fs from 'node:fs';
import * as path from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { createApp, type BuiltApp } from '../../lib/create-app';
import { SYNTH_COMMANDS } from '../../lib/pipeline/pipeline-stack';
import { cdkJsonContext, tempOutdir, testConfig } from '../support/cdk-app';

interface Action {
  Name: string;
  RunOrder?: number;
  ActionTypeId: { Category: string; Provider: string };
  Configuration?: Record<string, unknown>;
}
interface PipelineStage {
  Name: string;
  Actions: Action[];
}

let built: BuiltApp;
let assembly: CloudAssembly;
let template: Template;
let stages: PipelineStage[];

beforeAll(() => {
  built = createApp({ config: testConfig, context: cdkJsonContext(), outdir: tempOutdir() });
  assembly = built.app.synth();
  template = Template.fromJSON(assembly.getStackArtifact(built.pipeline!.artifactId).template);
  const pipelines = template.findResources('AWS::CodePipeline::Pipeline');
  expect(Object.keys(pipelines)).toHaveLength(1);
  stages = Object.values(pipelines)[0].Properties.Stages as PipelineStage[];
});

function buildSpecOf(projectLogicalId: string): string {
  const project = template.findResources('AWS::CodeBuild::Project')[projectLogicalId];
  return project.Properties.Source.BuildSpec as string;
}

function projectOfAction(action: Action): string {
  const ref = action.Configuration?.ProjectName as { Ref: string };
  return ref.Ref;
}

describe('pipeline', () => {
  it('runs Source → Build → UpdatePipeline → Assets → Dev → Prod', () => {
    expect(stages.map((s) => s.Name)).toEqual(['Source', 'Build', 'UpdatePipeline', 'Assets', 'Dev', 'Prod']);
  });

  it('is a V2 pipeline that starts on a push to the configured branch through CodeConnections', () => {
    template.hasResourceProperties('AWS::CodePipeline::Pipeline', { PipelineType: 'V2' });
    const source = stages[0].Actions[0];
    expect(source.ActionTypeId.Provider).toBe('CodeStarSourceConnection');
    expect(source.Configuration).toMatchObject({
      FullRepositoryId: testConfig.source.repository,
      BranchName: testConfig.source.branch,
      ConnectionArn: testConfig.source.connectionArn,
      DetectChanges: true,
    });
  });

  it('orders the manual approval before every Prod deploy action, and Dev has none', () => {
    const prod = stages.find((s) => s.Name === 'Prod')!;
    const approvals = prod.Actions.filter((a) => a.ActionTypeId.Category === 'Approval');
    const deploys = prod.Actions.filter((a) => a.ActionTypeId.Provider === 'CloudFormation');
    expect(approvals).toHaveLength(1);
    expect(approvals[0].Configuration?.CustomData).toMatch(/compliance\/compliance\.html/);
    expect(deploys.length).toBeGreaterThanOrEqual(4);
    for (const deploy of deploys) {
      expect(deploy.RunOrder!).toBeGreaterThan(approvals[0].RunOrder ?? 1);
    }
    const dev = stages.find((s) => s.Name === 'Dev')!;
    expect(dev.Actions.filter((a) => a.ActionTypeId.Category === 'Approval')).toHaveLength(0);
  });

  it('mutates itself before deploying anything', () => {
    const update = stages.find((s) => s.Name === 'UpdatePipeline')!;
    expect(update.Actions.map((a) => a.Name)).toEqual(['SelfMutate']);
    expect(buildSpecOf(projectOfAction(update.Actions[0]))).toContain('cdk -a . deploy MlInferencePipeline');
  });

  it('runs npm ci, the tests, cdk synth and the compliance report in the synth step, in that order', () => {
    const synth = stages.find((s) => s.Name === 'Build')!.Actions[0];
    const commands = (
      JSON.parse(buildSpecOf(projectOfAction(synth))) as { phases: { build: { commands: string[] } } }
    ).phases.build.commands;
    expect(commands).toEqual(SYNTH_COMMANDS);
    expect(commands.slice(0, 3)).toEqual(['npm ci', 'npm test', 'npx cdk synth']);
    expect(commands).toContain('npm run compliance');
  });

  it('keeps artifacts in a KMS-encrypted, rotated, access-logged, TLS-only bucket', () => {
    const buckets = template.findResources('AWS::S3::Bucket', {
      Properties: { LoggingConfiguration: { LogFilePrefix: 'artifacts/' } },
    });
    const [artifactBucketId] = Object.keys(buckets);
    expect(artifactBucketId).toBeDefined();
    const encryption =
      buckets[artifactBucketId].Properties.BucketEncryption.ServerSideEncryptionConfiguration[0];
    expect(encryption.ServerSideEncryptionByDefault.SSEAlgorithm).toBe('aws:kms');
    const keyId = encryption.ServerSideEncryptionByDefault.KMSMasterKeyID['Fn::GetAtt'][0] as string;
    expect(template.findResources('AWS::KMS::Key')[keyId].Properties.EnableKeyRotation).toBe(true);
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: artifactBucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
          Match.objectLike({ Effect: 'Deny', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
        ]),
      },
    });
  });

  it('writes one nested assembly per stage', () => {
    const nested = assembly.nestedAssemblies.map((a) => path.basename(a.directoryName));
    expect(nested.sort()).toEqual(['assembly-MlInferencePipeline-Dev', 'assembly-MlInferencePipeline-Prod']);
  });

  it('passes every compliance pack with no open finding', () => {
    const report = JSON.parse(
      fs.readFileSync(path.join(assembly.directory, 'validation-report.json'), 'utf8'),
    ) as {
      pluginReports: { pluginName: string; conclusion: string; violations: unknown[] }[];
    };
    const names = report.pluginReports.map((r) => r.pluginName);
    expect(names).toEqual(
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
