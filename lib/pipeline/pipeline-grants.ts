import { Lazy, Stack } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { IConstruct } from 'constructs';
// cdk-nag's own formatter, so the ids below are exactly the ones its IAM5 rule reports.
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import { acknowledge, Finding, ownConstructs } from '../compliance';

interface PolicyStatementJson {
  readonly Effect?: string;
  readonly Action?: string | string[];
  readonly Resource?: unknown;
}

/** Wildcards that CDK Pipelines' own grants contain, each with why it is acceptable. */
const KNOWN_PIPELINE_WILDCARDS: { readonly pattern: RegExp; readonly reason: string }[] = [
  {
    pattern: /^Action::s3:(GetObject\*|GetBucket\*|List\*|DeleteObject\*|Abort\*|PutObject\*)$/,
    reason:
      "CDK Pipelines' grantRead/grantReadWrite on this pipeline's own artifact bucket; the statement's resources are that bucket and its objects only.",
  },
  {
    pattern: /^Resource::<ArtifactBucket[0-9A-F]{8}\.Arn>\/\*$/,
    reason: "Objects of this pipeline's own artifact bucket: artifact keys are generated per execution.",
  },
  {
    pattern: /^Action::kms:(GenerateDataKey\*|ReEncrypt\*)$/,
    reason: "CDK grant on the pipeline's artifact key only (the statement's resource is that key's ARN).",
  },
  {
    pattern: /^Resource::arn:aws:codebuild:[a-z0-9-]+:\d{12}:report-group\/(<[A-Za-z0-9]+>-)?\*$/,
    reason:
      "CodeBuild creates report groups at build time under the project's name prefix; they cannot be named in advance.",
  },
  {
    pattern: /^Resource::arn:aws:logs:[a-z0-9-]+:\d{12}:log-group:\/aws\/codebuild\/(<[A-Za-z0-9]+>:)?\*$/,
    reason: "Log streams of CodeBuild log groups are created per build; the group is this project's own.",
  },
  {
    pattern: /^Resource::arn:\*:iam::\d{12}:role\/\*$/,
    reason:
      'Self-mutation and asset publishing assume the CDK bootstrap roles of the target accounts; CDK limits the statement with the iam:ResourceTag/aws-cdk:bootstrap-role condition.',
  },
  {
    pattern: /^Resource::<ReleaseStoreBucket[0-9A-F]{8}\.Arn>\/releases\/\*$/,
    reason:
      'Recorded releases in the release store: the Dossier step reads the latest one and RecordRelease writes a new folder whose id (record time and commit) exists only at run time; no other prefix of the bucket.',
  },
  {
    pattern: /^Resource::<ReleaseStoreBucket[0-9A-F]{8}\.Arn>\/dossiers\/\*$/,
    reason:
      'The Dossier step writes the dossier of its own pipeline execution under dossiers/<execution id>/; the id exists only at run time. Write only, and only under dossiers/.',
  },
  {
    pattern: /^Resource::\*$/,
    reason:
      'cloudformation:DescribeStacks and s3:ListBucket as CDK Pipelines generates them for self-mutation: DescribeStacks is read-only, and ListBucket lists the bootstrap buckets, whose names CDK Pipelines does not know.',
  },
];

function wildcardFindings(node: iam.CfnPolicy): string[] {
  const document = Stack.of(node).resolve(node.policyDocument) as { Statement?: PolicyStatementJson[] };
  const findings = new Set<string>();
  for (const statement of document.Statement ?? []) {
    if (statement.Effect !== 'Allow') continue;
    for (const action of [statement.Action ?? []].flat()) {
      if (action.includes('*')) findings.add(`Action::${action}`);
    }
    for (const resource of [statement.Resource ?? []].flat()) {
      const flat = flattenCfnReference(resource);
      if (flat.includes('*')) findings.add(`Resource::${flat}`);
    }
  }
  return [...findings];
}

const BUILD_CONTROL = ['codebuild:BatchGetBuilds', 'codebuild:StartBuild', 'codebuild:StopBuild'];

const isBuildControlOnAnyProject = (statement: PolicyStatementJson): boolean =>
  statement.Effect === 'Allow' &&
  [statement.Resource].flat().includes('*') &&
  [statement.Action ?? []].flat().some((action) => BUILD_CONTROL.includes(action));

/**
 * Removes `codebuild:StartBuild/StopBuild/BatchGetBuilds` on `*` from the pipeline's policies. CDK
 * Pipelines gives them to the roles of the asset projects, from when those roles were also the
 * pipeline's action roles. They no longer are: only CodeBuild may assume them, and the pipeline
 * starts every project through its CodeBuild action role, which is limited to the project ARNs.
 * StartBuild takes a buildspec override, so with `*` a compromised asset build could run any
 * project, self-mutation included, whose role may assume the bootstrap deploy roles. Call after
 * `buildPipeline()`.
 */
export function removeWildcardBuildControl(scope: IConstruct): void {
  const stack = Stack.of(scope);
  for (const node of ownConstructs(scope)) {
    if (!(node instanceof iam.CfnPolicy)) continue;
    const original: unknown = node.policyDocument;
    node.policyDocument = Lazy.any({
      produce: () => {
        const document = stack.resolve(original) as { Statement?: PolicyStatementJson[] };
        return {
          ...document,
          Statement: (document.Statement ?? []).filter((st) => !isBuildControlOnAnyProject(st)),
        };
      },
    });
  }
}

/**
 * Acknowledges the findings on what CDK Pipelines generates for the pipeline's own roles and
 * CodeBuild projects (source, synth, self-mutation, asset publishing), one finding at a time with
 * its reason. A wildcard not in the known list stays unacknowledged, so a new one fails synth.
 */
export function acknowledgePipelineGrants(
  scope: IConstruct,
  replicationBuckets: readonly s3.IBucket[] = [],
): void {
  const stack = Stack.of(scope);
  // The pipeline role's grant on the objects of its artifact stores in other regions (named physically).
  const replicationObjects = new Set(
    replicationBuckets.map((b) => `Resource::${flattenCfnReference(stack.resolve(b.arnForObjects('*')))}`),
  );
  for (const node of ownConstructs(scope)) {
    if (node instanceof codebuild.CfnProject) {
      const source = stack.resolve(node.source) as { type?: string };
      if (source.type === 'CODEPIPELINE') {
        acknowledge(
          node,
          [Finding.hipaa('CodeBuildProjectSourceRepoUrl')],
          'Source type CODEPIPELINE: the project reads the pipeline artifact and holds no repository URL or credentials; GitHub is reached only through the CodeConnections source action.',
        );
      }
      const environment = stack.resolve(node.environment) as { privilegedMode?: boolean };
      if (environment.privilegedMode && /\/Assets\/DockerAsset\d*$/.test(node.node.scope?.node.path ?? '')) {
        acknowledge(
          node,
          [Finding.guard('codebuild_project_environment_privileged_check')],
          'Publishes the container image assets (model server, batch scorer): docker build needs privileged mode. The project runs only the cdk-assets commands CDK Pipelines generates from the cloud assembly.',
        );
      }
      continue;
    }
    if (!(node instanceof iam.CfnPolicy)) continue;
    for (const finding of wildcardFindings(node)) {
      const known = KNOWN_PIPELINE_WILDCARDS.find((w) => w.pattern.test(finding));
      if (known) acknowledge(node, [Finding.awsSolutions(`IAM5[${finding}]`)], known.reason);
      else if (replicationObjects.has(finding)) {
        acknowledge(
          node,
          [Finding.awsSolutions(`IAM5[${finding}]`)],
          "Objects of this pipeline's own artifact store in a stage's region; artifact keys are generated per execution.",
        );
      }
    }
  }
}
