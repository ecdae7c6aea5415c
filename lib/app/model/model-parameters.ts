import * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { inputSchemaOf } from '../../../services/inference/input-schema';
import { loadModelMetadata, type ModelVersion } from '../../../services/model/artifacts';
import type { ModelArchive } from './model-archive';

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
  /**
   * Each deployed version's `model.tar.gz`, recorded as `artifact: {bucket, key, sha256}` so the batch
   * scorer loads the active version itself and checks its bytes. @default - no artifact recorded
   */
  readonly archives?: ReadonlyMap<string, ModelArchive>;
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
    const metadataOf = new Map(deployed.map(([version]) => [version, loadModelMetadata(version)]));
    // Written by every deploy from the versions it deploys, so it can never name a version the
    // endpoint no longer serves (active-version, which the rollout rewrites, can).
    this.inputSchema = new ssm.StringParameter(this, 'InputSchema', {
      parameterName: `${props.prefix}/input-schema`,
      stringValue: JSON.stringify(inputSchemaOf([...metadataOf.values()])),
      description: 'Task and feature count every deployed model version takes',
    });
    this.parameters.push(this.inputSchema);
    for (const [version, status] of deployed) {
      const metadata = metadataOf.get(version)!;
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
            ...artifactOf(props.archives?.get(version)),
          }),
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

const artifactOf = (archive: ModelArchive | undefined): { artifact?: Record<string, string> } =>
  archive ? { artifact: { bucket: archive.bucketName, key: archive.objectKey, sha256: archive.sha256 } } : {};
