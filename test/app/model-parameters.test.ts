import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ModelParameters, PARAMETER_TIER_BYTES } from '../../lib/app/model/model-parameters';
import { buildModelPackage, writeModelPackage } from '../../services/model/package-builder';
import { FIXTURE_BASELINE, FIXTURE_MODELS_DIR } from '../support/model-fixtures';
import { linearOnnx } from '../support/onnx-graphs';

/** A classifier with `width` features, whose drift bins make a Parameter Store value of about 280 bytes each. */
async function wideVersion(root: string, version: string, width: number): Promise<void> {
  const names = Array.from({ length: width }, (_, j) => `feature_${j}`);
  const rows = Array.from({ length: 100 }, (_, i) => {
    const features = names.map((_, j) => ((i * 31 + j * 17) % 97) / 9);
    return { features, target: features[0] > 5 ? 'high' : 'low' };
  });
  const built = await buildModelPackage({
    version,
    onnx: linearOnnx(
      names.map((_, j) => (j === 0 ? [-1, 1] : [0, 0])),
      'classification',
    ),
    data: { featureNames: names, rows },
    dataSource: 'generated',
    labels: ['low', 'high'],
  });
  await writeModelPackage(built, path.join(root, version));
}

it('stores each version in the cheapest tier its value fits: standard to 4 KB, then advanced', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'model-parameters-'));
  await wideVersion(root, 'v8.0.0', 24);
  const stack = new Stack(new App(), 'Registry');
  new ModelParameters(stack, 'Wide', {
    prefix: '/p/dev/model',
    activeVersion: 'v8.0.0',
    versions: { 'v8.0.0': 'baseline' },
    modelsDir: root,
  });
  new ModelParameters(stack, 'Narrow', {
    prefix: '/p/dev/narrow',
    activeVersion: FIXTURE_BASELINE,
    versions: { [FIXTURE_BASELINE]: 'baseline' },
    modelsDir: FIXTURE_MODELS_DIR,
  });
  const parameters = Object.values(Template.fromStack(stack).findResources('AWS::SSM::Parameter')).map(
    (p) => p.Properties as { Name: string; Value: string; Tier?: string },
  );
  const wide = parameters.find((p) => p.Name === '/p/dev/model/versions/v8.0.0')!;
  expect(Buffer.byteLength(wide.Value)).toBeGreaterThan(PARAMETER_TIER_BYTES.standard);
  expect(Buffer.byteLength(wide.Value)).toBeLessThanOrEqual(PARAMETER_TIER_BYTES.advanced);
  expect(wide.Tier).toBe('Advanced');
  const narrow = parameters.find((p) => p.Name === `/p/dev/narrow/versions/${FIXTURE_BASELINE}`)!;
  expect(narrow.Tier).toBe('Standard');
  // The drift job reads only the bins; nothing else of the feature statistics is shipped.
  expect(Object.keys(JSON.parse(narrow.Value).featureStats[0])).toEqual(['name', 'binEdges', 'binFractions']);
});
