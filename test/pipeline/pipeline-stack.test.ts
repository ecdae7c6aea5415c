import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { createApp, type BuiltApp } from '../../lib/create-app';
import { SYNTH_COMMANDS } from '../../lib/pipeline/pipeline-stack';
import { ROLLOUT_RECORD_FILE, SMOKE_JUNIT_FILE } from '../../lib/pipeline/post-deploy-steps';
import { GUARD_REPORT_FILE } from '../../lib/pipeline/registry-guard-step';
import { iamMatches } from '../iam/checker';
import { pipelineRoleNames, type MlInferenceStage } from '../../lib/stages/ml-inference-stage';
import { cdkJsonContext, tempOutdir, testConfig } from '../support/cdk-app';
import { FIXTURE_BASELINE, FIXTURE_CANDIDATE } from '../support/model-fixtures';

interface Action {
  Name: string;
  RunOrder?: number;
  Namespace?: string;
  InputArtifacts?: { Name: string }[];
  OutputArtifacts?: { Name: string }[];
  ActionTypeId: { Category: string; Provider: string };
  Configuration?: Record<string, unknown>;
}
interface PolicyStatement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
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

/** The bucket's policy denies every request that is not over TLS. */
function expectTlsOnly(bucketLogicalId: string): void {
  template.hasResourceProperties('AWS::S3::BucketPolicy', {
    Bucket: { Ref: bucketLogicalId },
    PolicyDocument: {
      Statement: Match.arrayWith([
        Match.objectLike({
          Effect: 'Deny',
          Action: 's3:*',
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        }),
      ]),
    },
  });
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

  it('runs npm ci, the tests, cdk synth, the offline evaluation of each stage and the compliance report in the synth step, in that order', () => {
    const synth = stages.find((s) => s.Name === 'Build')!.Actions[0];
    const commands = (
      JSON.parse(buildSpecOf(projectOfAction(synth))) as { phases: { build: { commands: string[] } } }
    ).phases.build.commands;
    expect(commands).toEqual(SYNTH_COMMANDS);
    expect(commands.slice(0, 3)).toEqual(['npm ci --ignore-scripts', 'npm test', 'npx cdk synth']);
    expect(commands.slice(3)).toEqual([
      'npm run evaluate -- --stage dev --out cdk.out/quality/dev.json',
      'npm run evaluate -- --stage prod --out cdk.out/quality/prod.json',
      'npm run compliance',
    ]);
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
    expectTlsOnly(artifactBucketId);
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: artifactBucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
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

describe('post-deploy steps', () => {
  const waves = (): [string, MlInferenceStage][] => [
    ['Dev', built.pipeline!.stages.dev],
    ['Prod', built.pipeline!.stages.prod],
  ];
  const stageNamed = (name: string): PipelineStage => stages.find((s) => s.Name === name)!;
  const actionNamed = (stage: PipelineStage, name: string): Action => {
    const found = stage.Actions.filter((a) => a.Name === name);
    expect(found).toHaveLength(1);
    return found[0];
  };
  const envOf = (action: Action): Record<string, string> =>
    Object.fromEntries(
      (
        JSON.parse(action.Configuration!.EnvironmentVariables as string) as { name: string; value: string }[]
      ).map((v) => [v.name, v.value]),
    );
  /** `#{<namespace>.<output>}` of the deploy action of the stack that holds `output`. */
  const outputVariable = (stage: PipelineStage, stackName: string, output: string): string => {
    const deploy = stage.Actions.find(
      (a) => a.Name.endsWith('.Deploy') && a.Configuration?.StackName === stackName,
    )!;
    expect(deploy.Namespace).toBeDefined();
    return `#{${deploy.Namespace}.${output}}`;
  };
  const allowStatementsOfAction = (action: Action): PolicyStatement[] => {
    const project = template.findResources('AWS::CodeBuild::Project')[projectOfAction(action)];
    const roleId = (project.Properties.ServiceRole as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    return Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roleId }]))
      .flatMap((p) => (p.Properties.PolicyDocument as { Statement: PolicyStatement[] }).Statement)
      .filter((st) => st.Effect === 'Allow');
  };
  const resolved = (value: string): unknown => built.pipeline!.resolve(value);

  it.each(['Dev', 'Prod'])('%s: smoke test after every deploy action, then the canary rollout', (name) => {
    const stage = stageNamed(name);
    const lastDeploy = Math.max(
      ...stage.Actions.filter((a) => a.ActionTypeId.Provider === 'CloudFormation').map(
        (a) => a.RunOrder ?? 1,
      ),
    );
    const smoke = actionNamed(stage, 'SmokeTest');
    const rollout = actionNamed(stage, 'CanaryRollout');
    expect(smoke.ActionTypeId.Provider).toBe('CodeBuild');
    expect(rollout.ActionTypeId.Provider).toBe('CodeBuild');
    expect(smoke.RunOrder!).toBeGreaterThan(lastDeploy);
    expect(rollout.RunOrder!).toBeGreaterThan(smoke.RunOrder!);
  });

  it("wires each wave's steps to that stage's own stack outputs", () => {
    for (const [name, stage] of waves()) {
      const pipelineStage = stageNamed(name);
      const smokeEnv = envOf(actionNamed(pipelineStage, 'SmokeTest'));
      const rolloutEnv = envOf(actionNamed(pipelineStage, 'CanaryRollout'));
      const inference = stage.inferenceStack.stackName;
      const operations = stage.operationsStack.stackName;
      expect(smokeEnv).toEqual({
        API_URL: outputVariable(pipelineStage, inference, 'ApiUrl'),
        ENDPOINT_NAME: outputVariable(pipelineStage, inference, 'EndpointName'),
        SMOKE_ROLE_ARN: outputVariable(pipelineStage, operations, 'SmokeTestRoleArn'),
      });
      expect(rolloutEnv).toEqual({
        STATE_MACHINE_ARN: outputVariable(pipelineStage, operations, 'RolloutStateMachineArn'),
        ROLLOUT_ROLE_ARN: outputVariable(pipelineStage, operations, 'RolloutRoleArn'),
      });
      // The outputs exist in those stacks' templates.
      const opsTemplate = assembly.getNestedAssembly(`assembly-MlInferencePipeline-${name}`);
      const opsOutputs = opsTemplate.getStackByName(operations).template.Outputs as Record<string, unknown>;
      expect(Object.keys(opsOutputs)).toEqual(
        expect.arrayContaining(['SmokeTestRoleArn', 'RolloutStateMachineArn', 'RolloutRoleArn']),
      );
      const apiOutputs = opsTemplate.getStackByName(inference).template.Outputs as Record<string, unknown>;
      expect(Object.keys(apiOutputs)).toEqual(expect.arrayContaining(['ApiUrl', 'EndpointName']));
    }
  });

  it('runs the smoke CLI under the assumed smoke role and publishes its JUnit file as a test report', () => {
    const spec = JSON.parse(buildSpecOf(projectOfAction(actionNamed(stageNamed('Dev'), 'SmokeTest')))) as {
      phases: { build: { commands: string[] } };
      reports: Record<string, { files: string[]; 'base-directory': string; 'file-format': string }>;
    };
    const commands = spec.phases.build.commands;
    expect(commands[0]).toBe('npm ci --ignore-scripts');
    const assume = commands.findIndex((c) => c.includes('aws sts assume-role --role-arn "$SMOKE_ROLE_ARN"'));
    const smoke = commands.findIndex((c) => c.startsWith('npm run smoke -- --api-url "$API_URL"'));
    expect(assume).toBeGreaterThan(0);
    expect(smoke).toBeGreaterThan(assume);
    expect(commands[smoke]).toContain(`--junit ${SMOKE_JUNIT_FILE}`);
    // Each variant is invoked directly, with the versions this stage deploys on them.
    expect(commands[smoke]).toContain('--endpoint-name "$ENDPOINT_NAME"');
    expect(commands[smoke]).toContain(
      `--variants VariantA=${FIXTURE_BASELINE},VariantB=${FIXTURE_CANDIDATE}`,
    );
    expect(commands[smoke]).toMatch(/--region [a-z]+-[a-z]+-\d /);
    // The truth check judges the candidate with the stage's quality margin (defaults here).
    expect(commands[smoke]).toContain('--margin-accuracy 0.01 --margin-mae 0.05');
    const reports = Object.values(spec.reports);
    expect(reports).toHaveLength(1);
    expect(reports[0]['file-format']).toBe('JUNITXML');
    expect(path.join(reports[0]['base-directory'], reports[0].files[0])).toBe(SMOKE_JUNIT_FILE);
  });

  it('starts and waits for the rollout with the run-rollout script under the rollout role', () => {
    const action = actionNamed(stageNamed('Prod'), 'CanaryRollout');
    const spec = JSON.parse(buildSpecOf(projectOfAction(action))) as {
      phases: { build: { commands: string[] } };
    };
    expect(spec.phases.build.commands).toEqual([
      'bash scripts/run-rollout.sh --state-machine-arn "$STATE_MACHINE_ARN" --role-arn "$ROLLOUT_ROLE_ARN"',
    ]);
    // Dev's rollout also writes its record for the dossier.
    const dev = JSON.parse(buildSpecOf(projectOfAction(actionNamed(stageNamed('Dev'), 'CanaryRollout')))) as {
      phases: { build: { commands: string[] } };
    };
    expect(dev.phases.build.commands).toEqual([
      `bash scripts/run-rollout.sh --state-machine-arn "$STATE_MACHINE_ARN" --role-arn "$ROLLOUT_ROLE_ARN" --output ${ROLLOUT_RECORD_FILE}`,
    ]);
    // Long enough for the prod policy's deadline.
    const project = template.findResources('AWS::CodeBuild::Project')[projectOfAction(action)];
    expect(project.Properties.TimeoutInMinutes).toBeGreaterThan(
      built.pipeline!.stages.prod.rolloutPolicy.deadlineMinutes,
    );
  });

  it("grants each step role sts:AssumeRole only on its own stage's role, nothing else in IAM/STS", () => {
    for (const [name, stage] of waves()) {
      const opsTemplate = assembly
        .getNestedAssembly(`assembly-MlInferencePipeline-${name}`)
        .getStackByName(stage.operationsStack.stackName).template as {
        Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
      };
      const roleNames = Object.values(opsTemplate.Resources)
        .filter((r) => r.Type === 'AWS::IAM::Role' && r.Properties.RoleName)
        .map((r) => r.Properties.RoleName as string);
      for (const [step, arn] of [
        ['SmokeTest', stage.pipelineRoles.smokeTestRoleArn],
        ['CanaryRollout', stage.pipelineRoles.rolloutRoleArn],
      ] as const) {
        const statements = allowStatementsOfAction(actionNamed(stageNamed(name), step));
        const identity = statements.filter((st) =>
          [st.Action].flat().some((a) => a.startsWith('sts:') || a.startsWith('iam:')),
        );
        expect(identity).toHaveLength(1);
        expect(identity[0].Action).toBe('sts:AssumeRole');
        expect(identity[0].Resource).toEqual(resolved(arn));
        // The ARN names a role the stage really creates, in the stage's account.
        const flat = JSON.stringify(identity[0].Resource);
        expect(flat).toContain(`:iam::${stage.account}:role/`);
        expect(roleNames.some((roleName) => flat.includes(`:role/${roleName}"`))).toBe(true);
      }
    }
  });

  it('puts the approval between the Dev rollout and the first Prod deploy', () => {
    const order = stages.map((s) => s.Name);
    expect(order.indexOf('Dev')).toBe(order.indexOf('Prod') - 1);
    const prod = stageNamed('Prod');
    const approval = prod.Actions.find((a) => a.ActionTypeId.Category === 'Approval')!;
    // The registry guard runs first, so an approver is never asked about a commit it would stop.
    const guard = actionNamed(prod, 'RegistryGuard');
    expect(guard.RunOrder ?? 1).toBeLessThan(approval.RunOrder ?? 1);
    const others = prod.Actions.filter((a) => a !== approval && a !== guard);
    expect(Math.min(...others.map((a) => a.RunOrder ?? 1))).toBeGreaterThan(approval.RunOrder ?? 1);
    // Dev's last action is the dossier of its rollout.
    const dev = stageNamed('Dev');
    const last = dev.Actions.reduce((a, b) => ((a.RunOrder ?? 1) >= (b.RunOrder ?? 1) ? a : b));
    expect(last.Name).toBe('Dossier');
  });
});

describe('release dossier and release store', () => {
  const stageNamed = (name: string): PipelineStage => stages.find((s) => s.Name === name)!;
  const actionNamed = (stage: string, name: string): Action => {
    const found = stageNamed(stage).Actions.filter((a) => a.Name === name);
    expect(found).toHaveLength(1);
    return found[0];
  };
  const specOf = (action: Action) =>
    JSON.parse(buildSpecOf(projectOfAction(action))) as {
      phases: { install?: { commands: string[] }; build: { commands: string[] } };
      artifacts?: { 'base-directory': string; files: string[] };
    };
  const roleIdOf = (action: Action): string => {
    const project = template.findResources('AWS::CodeBuild::Project')[projectOfAction(action)];
    return (project.Properties.ServiceRole as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  };
  const statementsOfRole = (roleId: string): PolicyStatement[] =>
    Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((p) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === roleId))
      .flatMap((p) => (p.Properties.PolicyDocument as { Statement: PolicyStatement[] }).Statement);
  const envOf = (action: Action): Record<string, string> =>
    Object.fromEntries(
      (
        JSON.parse(action.Configuration!.EnvironmentVariables as string) as { name: string; value: string }[]
      ).map((v) => [v.name, v.value]),
    );
  let bucketId: string;
  let keyId: string;
  beforeAll(() => {
    const store = built.pipeline!.releaseStore;
    bucketId = built.pipeline!.getLogicalId(store.bucket.node.defaultChild as CfnElement);
    keyId = built.pipeline!.getLogicalId(store.key.node.defaultChild as CfnElement);
  });
  /** Statements of a role that touch the release store's bucket or key. */
  const storeStatements = (roleId: string): PolicyStatement[] =>
    statementsOfRole(roleId).filter((st) =>
      [bucketId, keyId].some((id) => JSON.stringify(st.Resource).includes(`"${id}"`)),
    );
  const objects = (prefix: string) => ({
    'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, `/${prefix}`]],
  });

  it('runs Dev deploy → smoke → rollout → dossier, then approval → Prod deploy → smoke → rollout → record release', () => {
    const order = (stage: string, name: string): number => actionNamed(stage, name).RunOrder ?? 1;
    const lastDeploy = (stage: string): number =>
      Math.max(
        ...stageNamed(stage)
          .Actions.filter((a) => a.ActionTypeId.Provider === 'CloudFormation')
          .map((a) => a.RunOrder ?? 1),
      );
    const firstDeploy = (stage: string): number =>
      Math.min(
        ...stageNamed(stage)
          .Actions.filter((a) => a.ActionTypeId.Provider === 'CloudFormation')
          .map((a) => a.RunOrder ?? 1),
      );
    expect(lastDeploy('Dev')).toBeLessThan(order('Dev', 'SmokeTest'));
    expect(order('Dev', 'SmokeTest')).toBeLessThan(order('Dev', 'CanaryRollout'));
    expect(order('Dev', 'CanaryRollout')).toBeLessThan(order('Dev', 'Dossier'));
    expect(order('Prod', 'PromoteToProd')).toBeLessThan(firstDeploy('Prod'));
    expect(lastDeploy('Prod')).toBeLessThan(order('Prod', 'SmokeTest'));
    expect(order('Prod', 'CanaryRollout')).toBeLessThan(order('Prod', 'RecordRelease'));
    expect(Math.max(...stageNamed('Prod').Actions.map((a) => a.RunOrder ?? 1))).toBe(
      order('Prod', 'RecordRelease'),
    );
    expect(stageNamed('Dev').Actions.filter((a) => a.Name === 'RecordRelease')).toHaveLength(0);
  });

  it("feeds the Dossier step the cloud assembly and dev's reports/ outputs of the smoke test and rollout", () => {
    const smoke = actionNamed('Dev', 'SmokeTest');
    const rollout = actionNamed('Dev', 'CanaryRollout');
    const dossier = actionNamed('Dev', 'Dossier');
    for (const step of [smoke, rollout])
      expect(specOf(step).artifacts).toEqual({ 'base-directory': 'reports', files: ['**/*'] });
    const synthOutput = stageNamed('Build').Actions[0].OutputArtifacts![0].Name;
    const inputs = dossier.InputArtifacts!.map((a) => a.Name);
    expect(inputs.slice(1).sort()).toEqual(
      [synthOutput, smoke.OutputArtifacts![0].Name, rollout.OutputArtifacts![0].Name].sort(),
    );
    const spec = specOf(dossier);
    const links = spec.phases.install!.commands.join('\n');
    expect(links).toContain(`ln -s -- "$CODEBUILD_SRC_DIR_${synthOutput}" "cdk.out"`);
    expect(links).toContain(
      `ln -s -- "$CODEBUILD_SRC_DIR_${smoke.OutputArtifacts![0].Name}" "reports-smoke"`,
    );
    expect(links).toContain(
      `ln -s -- "$CODEBUILD_SRC_DIR_${rollout.OutputArtifacts![0].Name}" "reports-rollout"`,
    );
    const command = spec.phases.build.commands.find((c) => c.startsWith('npm run dossier'))!;
    expect(command).toContain(`--smoke reports-smoke/${path.basename(SMOKE_JUNIT_FILE)}`);
    expect(command).toContain(`--rollout reports-rollout/${path.basename(ROLLOUT_RECORD_FILE)}`);
    expect(command).toContain('--cdk-out cdk.out --store "$RELEASE_STORE"');
    expect(command).toMatch(/--upload$/);
    // Prod's steps expose no outputs: nothing reads them.
    expect(actionNamed('Prod', 'SmokeTest').OutputArtifacts ?? []).toEqual([]);
  });

  it('links the approval to the dossier the Dossier step uploads for this execution, and names the commit', () => {
    const approval = actionNamed('Prod', 'PromoteToProd');
    const source = stageNamed('Source').Actions[0];
    expect(approval.Configuration!.CustomData).toContain(`Commit: #{${source.Namespace}.CommitId}.`);
    expect(approval.Configuration!.ExternalEntityLink).toEqual({
      'Fn::Join': [
        '',
        [
          `https://${testConfig.pipeline.region}.console.aws.amazon.com/s3/object/`,
          { Ref: bucketId },
          `?region=${testConfig.pipeline.region}&bucketType=general&prefix=dossiers/#{codepipeline.PipelineExecutionId}/dossier.html`,
        ],
      ],
    });
    // The Dossier step uploads to dossiers/<the same execution id>/ and reads the commit from the source action.
    const env = envOf(actionNamed('Dev', 'Dossier'));
    expect(env).toMatchObject({
      PIPELINE_EXECUTION_ID: '#{codepipeline.PipelineExecutionId}',
      COMMIT_ID: `#{${source.Namespace}.CommitId}`,
      COMMIT_MESSAGE: `#{${source.Namespace}.CommitMessage}`,
    });
    const project =
      template.findResources('AWS::CodeBuild::Project')[projectOfAction(actionNamed('Dev', 'Dossier'))];
    const projectEnv = (
      project.Properties.Environment.EnvironmentVariables as { Name: string; Value: unknown }[]
    ).find((v) => v.Name === 'RELEASE_STORE');
    expect(projectEnv?.Value).toEqual({ 'Fn::Join': ['', ['s3://', { Ref: bucketId }]] });
  });

  it('lets the Dossier step read releases, list only the latest pointer and write only dossiers/', () => {
    expect(storeStatements(roleIdOf(actionNamed('Dev', 'Dossier')))).toEqual([
      {
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: { 'Fn::GetAtt': [bucketId, 'Arn'] },
        Condition: { StringEquals: { 's3:prefix': 'releases/latest.json' } },
      },
      { Effect: 'Allow', Action: 's3:GetObject', Resource: objects('releases/*') },
      { Effect: 'Allow', Action: 's3:PutObject', Resource: objects('dossiers/*') },
      {
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Resource: { 'Fn::GetAtt': [keyId, 'Arn'] },
      },
    ]);
  });

  it('lets the RecordRelease step only write releases/', () => {
    expect(storeStatements(roleIdOf(actionNamed('Prod', 'RecordRelease')))).toEqual([
      { Effect: 'Allow', Action: 's3:PutObject', Resource: objects('releases/*') },
      { Effect: 'Allow', Action: 'kms:GenerateDataKey', Resource: { 'Fn::GetAtt': [keyId, 'Arn'] } },
    ]);
    const command = specOf(actionNamed('Prod', 'RecordRelease')).phases.build.commands.join('\n');
    expect(command).toContain(
      'npm run dossier -- --cdk-out cdk.out --store "$RELEASE_STORE" --out dossier --record',
    );
  });

  it('gives the Dossier and RecordRelease roles nothing beyond their logs, reports, the artifacts and the store', () => {
    const idsIn = (value: unknown): string[] =>
      [...JSON.stringify(value).matchAll(/"(?:Ref|Fn::GetAtt)":\[?"([A-Za-z0-9]+)"/g)].map((m) => m[1]);
    const artifactBucket = Object.keys(
      template.findResources('AWS::S3::Bucket', {
        Properties: { LoggingConfiguration: { LogFilePrefix: 'artifacts/' } },
      }),
    )[0];
    for (const [stage, step] of [
      ['Dev', 'Dossier'],
      ['Prod', 'RecordRelease'],
    ] as const) {
      const action = actionNamed(stage, step);
      const own = projectOfAction(action);
      const artifactKey = (
        template.findResources('AWS::S3::Bucket')[artifactBucket].Properties.BucketEncryption
          .ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.KMSMasterKeyID as {
          'Fn::GetAtt': [string];
        }
      )['Fn::GetAtt'][0];
      const logGroup = Object.keys(template.findResources('AWS::Logs::LogGroup'));
      const allowed = new Set([own, artifactBucket, artifactKey, bucketId, keyId, ...logGroup]);
      for (const statement of statementsOfRole(roleIdOf(action))) {
        expect([statement.Action].flat().filter((a) => /^(iam|sts):/.test(a))).toEqual([]);
        expect([statement.Resource].flat()).not.toContain('*');
        expect(idsIn(statement.Resource).length).toBeGreaterThan(0);
        for (const id of idsIn(statement.Resource))
          expect({ step, id, allowed: allowed.has(id) }).toEqual({ step, id, allowed: true });
      }
    }
  });

  it('gives no other role in the pipeline account access to the release store', () => {
    const allowed = new Set([
      roleIdOf(actionNamed('Dev', 'Dossier')),
      roleIdOf(actionNamed('Prod', 'RecordRelease')),
    ]);
    for (const [roleId] of Object.entries(template.findResources('AWS::IAM::Role'))) {
      if (allowed.has(roleId)) continue;
      expect({ roleId, statements: storeStatements(roleId) }).toEqual({ roleId, statements: [] });
    }
  });

  it('lets the approvers open the dossiers behind the review link, and nothing else of the store', () => {
    const [approverPolicy] = Object.values(template.findResources('AWS::IAM::ManagedPolicy')).filter((p) =>
      JSON.stringify(p.Properties.PolicyDocument).includes('codepipeline:PutApprovalResult'),
    );
    const touchingStore = (approverPolicy!.Properties.PolicyDocument.Statement as PolicyStatement[]).filter(
      (st) => [bucketId, keyId].some((id) => JSON.stringify(st.Resource).includes(`"${id}"`)),
    );
    expect(touchingStore).toEqual([
      { Effect: 'Allow', Action: 's3:GetObject', Resource: objects('dossiers/*') },
      { Effect: 'Allow', Action: 'kms:Decrypt', Resource: { 'Fn::GetAtt': [keyId, 'Arn'] } },
    ]);
  });

  it('keeps releases in a retained, versioned, access-logged, TLS-only bucket under its own rotated key', () => {
    const bucket = template.findResources('AWS::S3::Bucket')[bucketId];
    expect(bucket.DeletionPolicy).toBe('Retain');
    expect(bucket.Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(bucket.Properties.LoggingConfiguration.LogFilePrefix).toBe('release-store/');
    const sse =
      bucket.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault;
    expect(sse).toEqual({ SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    const key = template.findResources('AWS::KMS::Key')[keyId];
    expect(key.Properties.EnableKeyRotation).toBe(true);
    expect(key.DeletionPolicy).toBe('Retain');
    expectTlsOnly(bucketId);
  });
});

describe('registry guard and prod approvals', () => {
  type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;
  const resources = (): Resources => template.toJSON().Resources as Resources;
  const stageNamed = (name: string): PipelineStage => stages.find((s) => s.Name === name)!;
  const envOf = (action: Action): Record<string, string> =>
    Object.fromEntries(
      (
        JSON.parse(action.Configuration!.EnvironmentVariables as string) as { name: string; value: string }[]
      ).map((v) => [v.name, v.value]),
    );
  const sourceNamespace = (): string => stages[0].Actions[0].Namespace!;
  /** Every Allow statement of every policy in the pipeline template, with where it is attached. */
  const allowStatements = (): { id: string; roles: unknown; statement: PolicyStatement }[] =>
    Object.entries(resources()).flatMap(([id, r]) => {
      const documents =
        r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy'
          ? [r.Properties.PolicyDocument]
          : r.Type === 'AWS::IAM::Role'
            ? ((r.Properties.Policies as { PolicyDocument: unknown }[] | undefined) ?? []).map(
                (p) => p.PolicyDocument,
              )
            : [];
      return documents.flatMap((d) =>
        (d as { Statement: PolicyStatement[] }).Statement.filter((st) => st.Effect === 'Allow').map(
          (statement) => ({ id, roles: r.Properties.Roles ?? [{ Ref: id }], statement }),
        ),
      );
    });
  const allows = (statement: PolicyStatement, action: string): boolean =>
    [statement.Action].flat().some((pattern) => iamMatches(pattern, action, true));

  it.each([
    ['Dev', 'dev'],
    ['Prod', 'prod'],
  ] as const)('%s: the guard reads that stage registry before anything of the wave deploys', (name, key) => {
    const stage = stageNamed(name);
    const guard = stage.Actions.find((a) => a.Name === 'RegistryGuard')!;
    const firstDeploy = Math.min(
      ...stage.Actions.filter((a) => a.ActionTypeId.Provider === 'CloudFormation').map(
        (a) => a.RunOrder ?? 1,
      ),
    );
    expect(guard.RunOrder ?? 1).toBeLessThan(firstDeploy);
    const wave = built.pipeline!.stages[key];
    expect(envOf(guard)).toEqual({ COMMIT_ID: `#{${sourceNamespace()}.CommitId}` });
    const project = template.findResources('AWS::CodeBuild::Project')[projectOfAction(guard)];
    expect(project.Properties.Environment.EnvironmentVariables).toContainEqual({
      Name: 'REGISTRY_ROLE_ARN',
      Type: 'PLAINTEXT',
      Value: built.pipeline!.resolve(wave.pipelineRoles.registryReaderRoleArn),
    });
    const spec = JSON.parse(buildSpecOf(projectOfAction(guard))) as {
      phases: { build: { commands: string[] } };
      artifacts: { 'base-directory': string };
    };
    const script = spec.phases.build.commands.join('\n');
    expect(script).toContain(`npm run guard -- --stage ${key} --report ${GUARD_REPORT_FILE}`);
    expect(script).toContain('aws sts assume-role --role-arn "$REGISTRY_ROLE_ARN"');
    // Its report is the step's output artifact, for the dossier.
    expect(spec.artifacts['base-directory']).toBe(path.dirname(GUARD_REPORT_FILE));
  });

  it('lets each guard assume only its own stage registry reader role, which the stage creates', () => {
    for (const [name, key] of [
      ['Dev', 'dev'],
      ['Prod', 'prod'],
    ] as const) {
      const guard = stageNamed(name).Actions.find((a) => a.Name === 'RegistryGuard')!;
      const project = template.findResources('AWS::CodeBuild::Project')[projectOfAction(guard)];
      const roleId = (project.Properties.ServiceRole as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      const assumes = allowStatements().filter(
        ({ roles, statement }) =>
          JSON.stringify(roles) === JSON.stringify([{ Ref: roleId }]) && allows(statement, 'sts:AssumeRole'),
      );
      expect(assumes.map((a) => a.statement.Resource)).toEqual([
        built.pipeline!.resolve(built.pipeline!.stages[key].pipelineRoles.registryReaderRoleArn),
      ]);
      const wave = built.pipeline!.stages[key];
      const ops = assembly
        .getNestedAssembly(`assembly-MlInferencePipeline-${name}`)
        .getStackByName(wave.operationsStack.stackName).template as { Resources: Resources };
      const names = Object.values(ops.Resources).map((r) => r.Properties.RoleName);
      expect(names).toContain(`${testConfig.project}-${testConfig[key].stageName}-registry-reader`);
    }
  });

  it('allows PutApprovalResult only to the named approvers, and only on the prod approval action', () => {
    const granting = allowStatements().filter(({ statement }) =>
      allows(statement, 'codepipeline:PutApprovalResult'),
    );
    expect(granting).toHaveLength(1);
    const [{ id, roles, statement }] = granting;
    expect(resources()[id].Type).toBe('AWS::IAM::ManagedPolicy');
    expect(roles).toEqual(testConfig.approvals.approvers.map((arn) => arn.split('/').pop()));
    const pipelineId = Object.keys(template.findResources('AWS::CodePipeline::Pipeline'))[0];
    expect(statement.Resource).toEqual({
      'Fn::Join': [
        '',
        [
          `arn:aws:codepipeline:${testConfig.pipeline.region}:${testConfig.pipeline.account}:`,
          { Ref: pipelineId },
          `/Prod/${stageNamed('Prod').Actions.find((a) => a.ActionTypeId.Category === 'Approval')!.Name}`,
        ],
      ],
    });
  });

  it('announces the pending prod approval, with the commit, on an encrypted topic the approval action may publish to', () => {
    const approval = stageNamed('Prod').Actions.find((a) => a.ActionTypeId.Category === 'Approval')!;
    const topicRef = approval.Configuration!.NotificationArn as { Ref: string };
    const topic = resources()[topicRef.Ref];
    expect(topic.Type).toBe('AWS::SNS::Topic');
    const keyId = (topic.Properties.KmsMasterKeyId as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    expect(resources()[keyId].Properties.EnableKeyRotation).toBe(true);
    expect(approval.Configuration!.CustomData).toContain(`Commit: #{${sourceNamespace()}.CommitId}`);
    // The topic policy lets exactly one principal publish: the approval action's role.
    const topicPolicy = Object.values(template.findResources('AWS::SNS::TopicPolicy')).find(
      (p) => JSON.stringify(p.Properties.Topics) === JSON.stringify([topicRef]),
    )!;
    const allowed = (
      topicPolicy.Properties.PolicyDocument.Statement as (PolicyStatement & { Principal: unknown })[]
    )
      .filter((st) => st.Effect === 'Allow')
      .map((st) => st.Principal);
    expect(allowed).toHaveLength(1);
    const actionRoleId = (allowed[0] as { AWS: { 'Fn::GetAtt': [string, string] } }).AWS['Fn::GetAtt'][0];
    expect(actionRoleId).toMatch(/^PipelineProdPromoteToProdCodePipelineActionRole/);
    // ...and that role may publish and use the topic's key.
    const roleStatements = allowStatements()
      .filter(({ roles }) => JSON.stringify(roles) === JSON.stringify([{ Ref: actionRoleId }]))
      .map((s) => s.statement);
    expect(roleStatements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Action: 'sns:Publish', Resource: topicRef }),
        expect.objectContaining({
          Action: expect.arrayContaining(['kms:GenerateDataKey*', 'kms:Decrypt']),
          Resource: { 'Fn::GetAtt': [keyId, 'Arn'] },
        }),
      ]),
    );
  });
});

describe('pipeline trust and build permissions', () => {
  interface Statement {
    Effect: string;
    Action: string | string[];
    Resource?: unknown;
    Principal?: { AWS?: unknown; Service?: unknown };
    Condition?: Record<string, Record<string, unknown>>;
  }
  type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;
  let resources: Resources;
  const lock = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version: string }>;
  };
  const locked = (name: string) => lock.packages[`node_modules/${name}`].version;
  const statementsOf = (policy: { Properties: Record<string, unknown> }): Statement[] =>
    (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement;
  const projects = () => Object.entries(resources).filter(([, r]) => r.Type === 'AWS::CodeBuild::Project');
  const specOf = (project: { Properties: Record<string, unknown> }) => {
    const spec = (project.Properties.Source as { BuildSpec: string }).BuildSpec;
    return JSON.parse(spec) as { phases?: Record<string, { commands?: string[] }> };
  };
  const commandsOf = (project: { Properties: Record<string, unknown> }) =>
    Object.values(specOf(project).phases ?? {}).flatMap((phase) => phase.commands ?? []);

  beforeAll(() => {
    resources = (assembly.getStackArtifact(built.pipeline!.artifactId).template as { Resources: Resources })
      .Resources;
  });

  it('allows codebuild:StartBuild/StopBuild/BatchGetBuilds only on projects of this pipeline, never on *', () => {
    const projectIds = new Set(projects().map(([id]) => id));
    let scoped = 0;
    for (const [id, policy] of Object.entries(resources).filter(([, r]) => r.Type === 'AWS::IAM::Policy')) {
      for (const st of statementsOf(policy)) {
        const actions = [st.Action].flat();
        if (!actions.some((a) => /^codebuild:(Start|Stop|BatchGet)Build/.test(a) || a === 'codebuild:*'))
          continue;
        for (const resource of [st.Resource].flat()) {
          const target = (resource as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'];
          expect({ policy: id, project: target?.[1] === 'Arn' && projectIds.has(target[0]) }).toEqual({
            policy: id,
            project: true,
          });
          scoped += 1;
        }
      }
    }
    // The pipeline still starts every asset and self-mutation project, through its action role.
    const assetOrMutation = projects().filter(([id]) => /Assets|SelfMutation/.test(id));
    expect(assetOrMutation.length).toBeGreaterThan(2);
    expect(scoped).toBeGreaterThanOrEqual(assetOrMutation.length);
  });

  it("makes each stage's smoke-test, rollout and registry reader roles trust only the pipeline step role that uses them", () => {
    const pipelineAccount = built.pipeline!.account;
    for (const [name, stage] of [
      ['Dev', built.pipeline!.stages.dev],
      ['Prod', built.pipeline!.stages.prod],
    ] as const) {
      const stageAssembly = assembly.getNestedAssembly(`assembly-MlInferencePipeline-${name}`);
      const ops = stageAssembly.getStackByName(stage.operationsStack.stackName).template as {
        Resources: Resources;
      };
      const names = pipelineRoleNames(stage.project, stage.stageConfig.stageName);
      for (const [step, roleName] of [
        ['SmokeTest', names.smokeTest],
        ['CanaryRollout', names.rollout],
        ['RegistryGuard', names.registryReader],
      ] as const) {
        const role = Object.values(ops.Resources).find(
          (r) => r.Type === 'AWS::IAM::Role' && r.Properties.RoleName === roleName,
        )!;
        const trust = (role.Properties.AssumeRolePolicyDocument as { Statement: Statement[] }).Statement;
        expect(trust).toHaveLength(1);
        const principalArn = trust[0].Condition?.ArnEquals?.['aws:PrincipalArn'];
        expect(JSON.stringify(trust[0].Principal)).toContain(`:iam::${pipelineAccount}:root`);
        // The ARN is the service role of that wave's step project, under its fixed name.
        const action = stages.find((s) => s.Name === name)!.Actions.find((a) => a.Name === step)!;
        const project = resources[projectOfAction(action)];
        const serviceRoleId = (project.Properties.ServiceRole as { 'Fn::GetAtt': [string, string] })[
          'Fn::GetAtt'
        ][0];
        const stepRoleName = resources[serviceRoleId].Properties.RoleName as string;
        expect(stepRoleName).toMatch(/^[\w+=,.@-]{1,64}$/);
        expect(stage.operationsStack.resolve(principalArn)).toEqual({
          'Fn::Join': [
            '',
            ['arn:', { Ref: 'AWS::Partition' }, `:iam::${pipelineAccount}:role/${stepRoleName}`],
          ],
        });
      }
    }
  });

  it('names an exact role ARN in every cross-account trust of every stage stack', () => {
    let trusts = 0;
    for (const nested of assembly.nestedAssemblies) {
      for (const stack of nested.nestedAssembly.stacks) {
        for (const r of Object.values((stack.template as { Resources: Resources }).Resources)) {
          if (r.Type !== 'AWS::IAM::Role') continue;
          for (const st of (r.Properties.AssumeRolePolicyDocument as { Statement: Statement[] }).Statement) {
            const aws = JSON.stringify(st.Principal?.AWS ?? '');
            if (!/:iam::\d{12}:root/.test(aws)) continue;
            trusts += 1;
            const arn = JSON.stringify(st.Condition?.ArnEquals?.['aws:PrincipalArn'] ?? '');
            expect({ stack: stack.stackName, arn }).toEqual({
              stack: stack.stackName,
              arn: expect.stringMatching(/:role\/[\w+=,.@-]+"\]\]\}$/),
            });
          }
        }
      }
    }
    expect(trusts).toBe(6);
  });

  it('runs no install scripts and installs the CLI versions package-lock.json pins', () => {
    const installs: string[] = [];
    for (const [id, project] of projects()) {
      const env = (
        project.Properties.Environment as { EnvironmentVariables?: { Name: string; Value: string }[] }
      ).EnvironmentVariables;
      expect({ id, env }).toEqual({
        id,
        env: expect.arrayContaining([
          expect.objectContaining({ Name: 'NPM_CONFIG_IGNORE_SCRIPTS', Value: 'true' }),
        ]),
      });
      for (const command of commandsOf(project)) {
        if (/^npm ci\b/.test(command)) expect(command).toBe('npm ci --ignore-scripts');
        if (/^npm (install|i)\b/.test(command)) installs.push(command);
      }
    }
    expect(new Set(installs)).toEqual(
      new Set([
        `npm install -g aws-cdk@${locked('aws-cdk')}`,
        `npm install -g cdk-assets@${locked('cdk-assets')}`,
      ]),
    );
  });
});
