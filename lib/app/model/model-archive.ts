import { AssetStaging, FileAssetPackaging, Stack } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { modelArchivePath, type ModelVersion } from '../../../services/model/artifacts';

/**
 * A version's `model.tar.gz` as a file asset, uploaded as-is. Unlike `s3_assets.Asset`, whose object
 * key keeps only the last extension (`<hash>.gz`), the key ends in `.tar.gz`, the form SageMaker
 * documents for `ModelDataUrl`. The file is staged into the cloud assembly, so the pipeline's asset
 * step publishes it from the synth output like any other asset.
 */
export class ModelArchive extends Construct {
  /** `s3://<asset bucket>/<hash>.tar.gz`. */
  readonly s3Url: string;
  /** ARN of that one object. */
  readonly objectArn: string;

  /** @param modelsDir folder of the version folders (default the repository's `models/`) */
  constructor(scope: Construct, id: string, version: ModelVersion, modelsDir?: string) {
    super(scope, id);
    const stack = Stack.of(this);
    const staging = new AssetStaging(this, 'Stage', { sourcePath: modelArchivePath(version, modelsDir) });
    const location = stack.synthesizer.addFileAsset({
      fileName: staging.relativeStagedPath(stack),
      packaging: FileAssetPackaging.FILE,
      // The key is `<sourceHash><extension of fileName>`: `<hash>.tar` + `.gz`.
      sourceHash: `${staging.assetHash}.tar`,
    });
    this.s3Url = location.s3ObjectUrl;
    this.objectArn = `arn:${stack.partition}:s3:::${location.bucketName}/${location.objectKey}`;
  }
}
