import * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { loadModelMetadata, type ModelMetadata, type ModelVersion } from '../../../services/model/artifacts';

/** Lifecycle status of a model version, as the rollout controller sets it. */
export type ModelVersionStatus = 'baseline' | 'candidate' | 'active' | 'rejected';

/** Largest value of each Parameter Store tier, in bytes. */
export const PARAMETER_TIER_BYTES = { standard: 4096, advanced: 8192 } as const;

/**
 * The `<prefix>/versions/<version>` document: what the functions validate against (task, feature count,
 * labels) and the drift job's reference bins. Only the bins of each feature, not its mean/std/range, which
 * nothing at runtime reads: the value grows with the feature count and must fit a parameter tier.
 */
export function versionParameterValue(
  version: ModelVersion,
  metadata: ModelMetadata,
  status: ModelVersionStatus,
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
  });
}

/**
 * The cheapest tier the value fits (standard up to 4 KB; advanced, charged per parameter, up to 8 KB), or
 * undefined when it fits none.
 */
export function parameterTierFor(value: string): ssm.ParameterTier | undefined {
  const bytes = Buffer.byteLength(value);
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
  /** Folder of the version folders. @default the repository's `models/` */
  readonly modelsDir?: string;
}

/**
 * The model registry in Parameter Store (docs/CONTRACTS.md): `<prefix>/active-version` and one
 * `<prefix>/versions/<version>` JSON document per deployed version, built from the committed
 * metadata so feature count and labels always match the artifacts that ship.
 */
export class ModelParameters extends Construct {
  /** `/<project>/<stage>/model`, passed to functions as `MODEL_PARAMETER_PREFIX`. */
  readonly prefix: string;
  /** Every parameter, for read grants by name. */
  readonly parameters: ssm.StringParameter[] = [];

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
    for (const [version, status] of Object.entries(props.versions) as [ModelVersion, ModelVersionStatus][]) {
      const stringValue = versionParameterValue(version, loadModelMetadata(version, props.modelsDir), status);
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

  /**
   * Allows `ssm:GetParameter` on these parameters by name (no path wildcard): the only call the
   * functions make (the parameters are plain strings, so no KMS decrypt either).
   */
  grantRead(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['ssm:GetParameter'],
      resourceArns: this.parameters.map((parameter) => parameter.parameterArn),
    });
  }
}
