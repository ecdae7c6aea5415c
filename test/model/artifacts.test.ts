import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { InferenceSession } from 'onnxruntime-node';
import { buildArtifacts, trainingConfigs } from '../../scripts/models';
import { unpackTarGz } from '../../services/model/archive';
import {
  loadModelMetadata,
  modelArchivePath,
  modelArtifactDir,
  modelVersions,
} from '../../services/model/artifacts';

describe.each(modelVersions)('committed artifacts of %s', (version) => {
  const dir = modelArtifactDir(version);
  const read = (name: string) => readFileSync(path.join(dir, name));
  const metadata = loadModelMetadata(version);

  it('match their SHA256SUMS', () => {
    const lines = read('SHA256SUMS').toString('utf8').trim().split('\n');
    const sums = lines.map((line) => {
      const [, hash, name] = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line) ?? [];
      return { name, hash };
    });
    expect(sums.map((s) => s.name)).toEqual(['model.onnx', 'metadata.json', 'model.tar.gz', 'requests.json']);
    for (const { name, hash } of sums) {
      expect(createHash('sha256').update(read(name)).digest('hex')).toBe(hash);
    }
  });

  it('ship exactly model.onnx and metadata.json at the archive root', () => {
    const entries = unpackTarGz(readFileSync(modelArchivePath(version)));
    expect(entries.map((e) => e.name)).toEqual(['model.onnx', 'metadata.json']);
    expect(entries[0].data.equals(read('model.onnx'))).toBe(true);
    expect(entries[1].data.equals(read('metadata.json'))).toBe(true);
  });

  it('describe the ONNX graph: features [N, featureCount] in, probabilities [N, labels] out', async () => {
    const session = await InferenceSession.create(read('model.onnx'));
    try {
      expect(session.inputMetadata).toEqual([
        expect.objectContaining({
          name: 'features',
          isTensor: true,
          type: 'float32',
          shape: ['N', metadata.featureCount],
        }),
      ]);
      expect(session.outputMetadata).toEqual([
        expect.objectContaining({
          name: 'probabilities',
          type: 'float32',
          shape: ['N', metadata.labels.length],
        }),
      ]);
    } finally {
      await session.release();
    }
  });

  it('carry the contract metadata: version, golden rows per label, drift bins', () => {
    expect(metadata.version).toBe(version);
    expect(metadata.featureNames).toEqual(['sepal_length', 'sepal_width', 'petal_length', 'petal_width']);
    expect(metadata.labels).toEqual(['setosa', 'versicolor', 'virginica']);
    expect(new Set(metadata.golden.map((g) => g.label))).toEqual(new Set(metadata.labels));
    for (const stats of metadata.featureStats) {
      expect(stats.binEdges).toHaveLength(11);
      expect(stats.binEdges[0]).toBe(stats.min);
      expect(stats.binEdges[10]).toBe(stats.max);
    }
    expect(metadata.training.accuracy).toBeGreaterThanOrEqual(0.9);
  });
});

it('ships two different models', () => {
  const [baseline, candidate] = modelVersions.map((v) =>
    readFileSync(path.join(modelArtifactDir(v), 'model.onnx')),
  );
  expect(baseline.equals(candidate)).toBe(false);
});

it('are byte for byte what npm run models builds', () => {
  for (const version of modelVersions) {
    for (const [name, bytes] of buildArtifacts(trainingConfigs[version])) {
      expect({
        file: `${version}/${name}`,
        same: bytes.equals(readFileSync(path.join(modelArtifactDir(version), name))),
      }).toEqual({
        file: `${version}/${name}`,
        same: true,
      });
    }
  }
});
