import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { unpackTarGz } from '../../services/model/archive';
import { ModelRefusedError } from '../../services/model/graph';
import { parseLabelledData, type LabelledData } from '../../services/model/labelled-data';
import { buildModelPackage, type ModelPackageInput } from '../../services/model/package-builder';
import { FIXTURE_EXPORTS_DIR } from '../support/model-fixtures';
import { linearOnnx } from '../support/onnx-graphs';

const onnx = (name: string) => readFileSync(path.join(FIXTURE_EXPORTS_DIR, name));
const csv = (name: string): LabelledData =>
  parseLabelledData(readFileSync(path.join(FIXTURE_EXPORTS_DIR, name), 'utf8'), { file: name });
const input = (model: string, data: string, more: Partial<ModelPackageInput> = {}): ModelPackageInput => ({
  version: 'v7.0.0',
  onnx: onnx(model),
  data: csv(data),
  dataSource: data,
  ...more,
});

describe('model:add refuses what the server cannot serve, naming the problem and the fix', () => {
  it.each<[string, ModelPackageInput, RegExp]>([
    [
      'a ZipMap output (skl2onnx default)',
      input('sklearn-zipmap.onnx', 'mlp-classifier.csv'),
      /output_probability is a ZipMap[\s\S]*Fix: .*options=\{id\(clf\): \{'zipmap': False\}\}/,
    ],
    [
      'more than one input',
      input('refused-two-inputs.onnx', 'mlp-classifier.csv'),
      /has 2 inputs \(a, b\)[\s\S]*Fix: export with a single input of all features/,
    ],
    [
      'a non-float input',
      input('refused-double-input.onnx', 'mlp-classifier.csv'),
      /input "features" is float64; the server sends float32[\s\S]*Fix: .*FloatTensorType/,
    ],
    [
      'an input width that is not the data column count',
      input('credit-default-a.onnx', 'mlp-classifier.csv'),
      /input "features" has shape \[batch, 8\], but the data has 4 feature columns \(f1, f2, f3, f4\)[\s\S]*Fix:/,
    ],
    [
      'a fixed batch size (torch export without dynamic_axes)',
      input('refused-fixed-batch.onnx', 'mlp-classifier.csv'),
      /fixed batch size of 1[\s\S]*Fix: .*dynamic_axes/,
    ],
    [
      'scores that are not probabilities (no softmax)',
      input('refused-logits.onnx', 'mlp-classifier.csv'),
      /rows do not sum to 1 \(logits or scores\?\)[\s\S]*Fix: .*torch\.softmax/,
    ],
    [
      'outputs that fit neither task: a classifier read as a regressor',
      input('mlp-classifier.onnx', 'mlp-classifier.csv', { task: 'regression' }),
      /no float \[N\] or \[N, 1\] output for a regressor[\s\S]*Fix:/,
    ],
    [
      'outputs that fit neither task: a regressor read as a classifier',
      input('regression.onnx', 'regression.csv', { task: 'classification' }),
      /output "value" has one column; a classifier must give every class its probability[\s\S]*Fix: .*\[N, K\]/,
    ],
    [
      'labels that are not the probability columns',
      input('mlp-classifier.onnx', 'mlp-classifier.csv', { labels: ['alpha', 'beta'] }),
      /has 3 columns, but the labels are 2 \(alpha, beta\)[\s\S]*Fix: pass --labels/,
    ],
    [
      'a data label the model does not know',
      input('mlp-classifier.onnx', 'mlp-classifier.csv', { labels: ['alpha', 'beta', 'delta'] }),
      /label "gamma", which is not one of the model's labels/,
    ],
    [
      'a regression target that is not a number',
      {
        ...input('mlp-classifier.onnx', 'mlp-classifier.csv'),
        onnx: linearOnnx([[1], [1], [0], [0]], 'regression'),
      },
      /outputs fit regression, but the data's target "\w+" is not a number[\s\S]*Fix: pass --task/,
    ],
  ])('%s', async (_name, refused, message) => {
    const attempt = buildModelPackage(refused);
    await expect(attempt).rejects.toThrow(ModelRefusedError);
    await expect(attempt).rejects.toThrow(message);
  });
});

describe('model:add accepts what real exporters write', () => {
  it.each<[string, string, string, Record<string, unknown>]>([
    [
      'torch.onnx.export softmax MLP',
      'mlp-classifier.onnx',
      'mlp-classifier.csv',
      { probabilities: 'probabilities' },
    ],
    [
      'an int64 label tensor beside the probabilities (column indices)',
      'label-and-probabilities.onnx',
      'mlp-classifier.csv',
      { probabilities: 'probabilities', label: 'label' },
    ],
    [
      'the skl2onnx LinearClassifier layout (string labels, zipmap off)',
      'sklearn-linear-classifier.onnx',
      'mlp-classifier.csv',
      { probabilities: 'probabilities', label: 'label' },
    ],
    [
      'a binary classifier, K = 2',
      'credit-default-a.onnx',
      'credit-default.csv',
      { probabilities: 'probabilities' },
    ],
    ['a regressor answering [N, 1]', 'regression.onnx', 'regression.csv', { value: 'value' }],
    ['a regressor answering [N]', 'regression-flat.onnx', 'regression.csv', { value: 'variable' }],
  ])('%s', async (_name, model, data, outputs) => {
    const { metadata, files } = await buildModelPackage(input(model, data));
    expect(metadata.outputs).toEqual(outputs);
    expect([...files.keys()]).toEqual([
      'model.onnx',
      'metadata.json',
      'model.tar.gz',
      'evaluation.jsonl',
      'requests.json',
      'SHA256SUMS',
    ]);
    expect(unpackTarGz(files.get('model.tar.gz')!).map((e) => e.name)).toEqual([
      'model.onnx',
      'metadata.json',
    ]);
    const evaluation = files.get('evaluation.jsonl')!.toString('utf8').trim().split('\n');
    expect(evaluation).toHaveLength(metadata.evaluation!.rows);
    const requests = JSON.parse(files.get('requests.json')!.toString('utf8')) as { requests: unknown[] };
    expect(requests.requests).toEqual(evaluation.map((line) => JSON.parse(line)));
    if (metadata.task === 'classification') {
      expect(metadata.evaluation!.metrics.accuracy).toBeGreaterThan(0.7);
      expect(metadata.labels).toEqual(
        data === 'credit-default.csv' ? ['0', '1'] : ['alpha', 'beta', 'gamma'],
      );
    } else {
      expect(metadata.evaluation!.metrics.rmse).toBeLessThan(1);
      expect(metadata.regressionBins.length).toBeGreaterThan(2);
    }
  });

  it('writes the same bytes for the same inputs', async () => {
    const [a, b] = await Promise.all(
      [1, 2].map(() => buildModelPackage(input('regression.onnx', 'regression.csv'))),
    );
    expect(a.files.get('SHA256SUMS')!.equals(b.files.get('SHA256SUMS')!)).toBe(true);
  });

  it('takes JSON lines as well as CSV', async () => {
    const lines = csv('mlp-classifier.csv')
      .rows.map((row) => JSON.stringify({ features: row.features, label: row.target }))
      .join('\n');
    const { metadata } = await buildModelPackage({
      ...input('mlp-classifier.onnx', 'mlp-classifier.csv'),
      data: parseLabelledData(lines),
    });
    expect(metadata.featureNames).toEqual(['feature_0', 'feature_1', 'feature_2', 'feature_3']);
  });
});

describe('npm run model:add', () => {
  const run = (...args: string[]) =>
    spawnSync(path.join('node_modules', '.bin', 'tsx'), ['scripts/model-add.ts', ...args], {
      encoding: 'utf8',
    });

  it('writes a version folder, then refuses to overwrite it; a refusal exits 1 with the fix', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'model-add-'));
    const args = ['--data', path.join(FIXTURE_EXPORTS_DIR, 'credit-default.csv'), '--version', 'v1.2.3'];
    const added = run(
      '--onnx',
      path.join(FIXTURE_EXPORTS_DIR, 'credit-default-a.onnx'),
      ...args,
      '--models-dir',
      root,
    );
    expect(added.status).toBe(0);
    expect(added.stdout).toMatch(/labels: 0, 1/);
    expect(existsSync(path.join(root, 'v1.2.3', 'SHA256SUMS'))).toBe(true);
    const again = run(
      '--onnx',
      path.join(FIXTURE_EXPORTS_DIR, 'credit-default-a.onnx'),
      ...args,
      '--models-dir',
      root,
    );
    expect([again.status, again.stderr]).toEqual([
      1,
      expect.stringMatching(/exists: versions are immutable/),
    ]);
    const zipmap = run(
      '--onnx',
      path.join(FIXTURE_EXPORTS_DIR, 'sklearn-zipmap.onnx'),
      '--data',
      path.join(FIXTURE_EXPORTS_DIR, 'mlp-classifier.csv'),
      '--version',
      'v1.2.4',
      '--models-dir',
      root,
    );
    expect([zipmap.status, zipmap.stderr]).toEqual([1, expect.stringMatching(/ZipMap[\s\S]*Fix:/)]);
    expect(run('--help').status).toBe(0);
    expect(run('--onnx', 'x.onnx').status).toBe(2);
  });
});
