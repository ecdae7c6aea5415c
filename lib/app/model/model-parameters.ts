import * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { loadModelMetadata, type ModelVersion } from '../../../services/model/artifacts';

/** Lifecycle status of a model version, as the rollout controller sets it. */
export type ModelVersionStatus = 'baseline' | 'candidate' | 'active' | 'rejected';

/** Properties of {@link ModelParameters}. */
export interface ModelParametersProps {
  /** Path prefix, `/<project>/<stage>/model`; the one physical name that is an interface. */
  readonly prefix: string;
  /** Version every function treats as active until a rollout promotes another. */
  readonly activeVersion: ModelVersion;
  /** Deployed versions and their status; metadata is read from `models/<version>/metadata.json`. */
  readonly versions: Partial<Record<ModelVersion, ModelVersionStatus>>;
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
      const metadata = loadModelMetadata(version);
      this.parameters.push(
        new ssm.StringParameter(this, `Version${version.replace(/\W/g, '')}`, {
          parameterName: `${props.prefix}/versions/${version}`,
          stringValue: JSON.stringify({
            version,
            task: metadata.task,
            featureCount: metadata.featureCount,
            ...(metadata.task === 'classification' ? { labels: metadata.labels } : {}),
            status,
            // Training-data bins: the drift job compares recent inputs against them (PSI).
            featureStats: metadata.featureStats,
          }),
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
