import * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { inputSchemaOf } from '../../../services/inference/input-schema';
import { loadModelMetadata, type ModelMetadata, type ModelVersion } from '../../../services/model/artifacts';
import type { ModelArchive } from './model-archive';

/** Lifecycle status of a model version, as the rollout controller sets it. */
export type ModelVersionStatus = 'baseline' | 'candidate' | 'active' | 'rejected';

/** Largest value of each Parameter Store tier, in bytes. */
export const PARAMETER_TIER_BYTES = { standard: 4096, advanced: 8192 } as const;

/**
 * The `<prefix>/versions/<version>` document: what the functions validate against (task, feature count,
 * labels) and the drift job's reference bins. Only the bins of each feature, not its mean/std/range, which
 * nothing at runtime reads: the value grows with the feature count and must fit a parameter tier.
 * With the version's archive, `artifact: {bucket, key, sha256}`: the batch scorer loads the active
 * version from it and checks its bytes first.
 */
export function versionParameterValue(
  version: ModelVersion,
  metadata: ModelMetadata,
  status: ModelVersionStatus,
  archive?: ModelArchive,
): string {
  return JSON.stringify({
    version,
    task: metadata.task,
    featureCount: metadata.featureCount,
    ...(metadata.task === 'classification' ? { labels: metadata.labels } : {}),
    status,
    featureStats: metadata.featureStats.map(({ name, binEdges, binFractions }) => ({
      name,
      binEdges,
      binFractions,
    })),
    ...artifactOf(archive),
  });
}

/**
 * Bytes the deployed value may hold beyond what synth renders: the artifact's bucket name and object key
 * are tokens until deploy (a bucket name is at most 63 characters, an asset key 71).
 */
export const ARTIFACT_RESERVE_BYTES = 160;

/**
 * The cheapest tier the value fits (standard up to 4 KB; advanced, charged per parameter, up to 8 KB), or
 * undefined when it fits none.
 */
export function parameterTierFor(value: string): ssm.ParameterTier | undefined {
  const bytes = Buffer.byteLength(value) + ARTIFACT_RESERVE_BYTES;
  if (bytes <= PARAMETER_TIER_BYTES.standard) return ssm.ParameterTier.STANDARD;
  if (bytes <= PARAMETER_TIER_BYTES.advanced) return ssm.ParameterTier.ADVANCED;
  return undefined;
}

/** Properties of {@link ModelParameters}. */
export interface ModelParametersProps {
  /** Path prefix, `/<project>/<stage>/model`; the one physical name that is an interface. */
  readonly prefix: string;
  /** Version every function treats as active until a rollout promotes another. */
  readonly activeVersion: ModelVersion;
  /** Deployed versions and their status; metadata is read from `<modelsDir>/<version>/metadata.json`. */
  readonly versions: Partial<Record<ModelVersion, ModelVersionStatus>>;
  /**
   * Each deployed version's `model.tar.gz`, recorded as `artifact: {bucket, key, sha256}` so the batch
   * scorer loads the active version itself and checks its bytes. @default - no artifact recorded
   */
  readonly archives?: ReadonlyMap<string, ModelArchive>;
  /** Folder of the version folders. @default the repository's `models/` */
  readonly modelsDir?: string;
}

/**
 * The model registry in Parameter Store (docs/CONTRACTS.md): `<prefix>/active-version`, one
 * `<prefix>/versions/<version>` JSON document per deployed version, and `<prefix>/input-schema`, the
 * input the deployed versions share, all built from the committed metadata so feature count and
 * labels always match the artifacts that ship.
 */
export class ModelParameters extends Construct {
  /** `/<project>/<stage>/model`, passed to functions as `MODEL_PARAMETER_PREFIX`. */
  readonly prefix: string;
  /** Every parameter, for read grants by name. */
  readonly parameters: ssm.StringParameter[] = [];
  /** `<prefix>/input-schema`: what the API and the stream consumer validate requests against. */
  readonly inputSchema: ssm.StringParameter;

  constructor(scope: Construct, id: string, props: ModelParametersProps) {
    super(scope, id);
    this.prefix = props.prefix;
    this.parameters.push(
      new ssm.StringParameter(this, 'ActiveVersion', {
        parameterName: `${props.prefix}/active-version`,
        stringValue: props.activeVersion,
        description: 'Model version the inference functions serve as active',
      }),
    );
    const deployed = Object.entries(props.versions) as [ModelVersion, ModelVersionStatus][];
    const metadataOf = new Map(
      deployed.map(([version]) => [version, loadModelMetadata(version, props.modelsDir)]),
    );
    // Written by every deploy from the versions it deploys, so it can never name a version the
    // endpoint no longer serves (active-version, which the rollout rewrites, can). A few dozen bytes.
    const schema = JSON.stringify(inputSchemaOf([...metadataOf.values()]));
    this.inputSchema = new ssm.StringParameter(this, 'InputSchema', {
      parameterName: `${props.prefix}/input-schema`,
      stringValue: schema,
      // Grows with the classes; the version documents below hold the same labels and are checked first.
      tier: parameterTierFor(schema),
      description: 'Task, feature count and classes every deployed model version takes',
    });
    this.parameters.push(this.inputSchema);
    for (const [version, status] of deployed) {
      const stringValue = versionParameterValue(
        version,
        metadataOf.get(version)!,
        status,
        props.archives?.get(version),
      );
      const tier = parameterTierFor(stringValue);
      // validateConfig refuses a version whose value fits no tier; this guards direct use of the construct.
      if (!tier)
        throw new Error(`Parameter ${props.prefix}/versions/${version} exceeds 8 KB (advanced tier)`);
      this.parameters.push(
        new ssm.StringParameter(this, `Version${version.replace(/\W/g, '')}`, {
          parameterName: `${props.prefix}/versions/${version}`,
          stringValue,
          tier,
          description: `Metadata of model ${version}`,
        }),
      );
    }
  }

  /** Allows `ssm:GetParameter` on `<prefix>/input-schema` only: all that request validation reads. */
  grantReadInputSchema(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['ssm:GetParameter'],
      resourceArns: [this.inputSchema.parameterArn],
    });
  }

  /**
   * Allows `ssm:GetParameter` on the registry (active version and version documents) by name, no path
   * wildcard: the only call the batch and drift jobs make (plain strings, so no KMS decrypt either). The
   * input schema is request validation's alone ({@link grantReadInputSchema}).
   */
  grantRead(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['ssm:GetParameter'],
      resourceArns: this.parameters
        .filter((parameter) => parameter !== this.inputSchema)
        .map((parameter) => parameter.parameterArn),
    });
  }
}

const artifactOf = (archive: ModelArchive | undefined): { artifact?: Record<string, string> } =>
  archive ? { artifact: { bucket: archive.bucketName, key: archive.objectKey, sha256: archive.sha256 } } : {};
