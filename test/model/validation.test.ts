import { readServerConfig } from '../../services/model/config';
import { InvalidMetadataError, parseModelMetadata } from '../../services/model/metadata';
import { toPredictions, toValues } from '../../services/model/model';
import { assertJsonContentType, parseInvocationRows, RequestError } from '../../services/model/validation';
import { loadModelMetadata } from '../../services/model/artifacts';
import { FIXTURE_MODELS_DIR } from '../support/model-fixtures';

const limits = { featureCount: 4, maxRows: 3 };

function errorOf(action: () => unknown): RequestError {
  try {
    action();
  } catch (error) {
    if (error instanceof RequestError) return error;
    throw error;
  }
  throw new Error('expected a RequestError');
}

describe('parseInvocationRows', () => {
  it.each([
    ['one row', '[5.1, 3.5, 1.4, 0.2]', [[5.1, 3.5, 1.4, 0.2]]],
    [
      'a batch',
      '[[1, 2, 3, 4], [0, -1, 2.5, 1e3]]',
      [
        [1, 2, 3, 4],
        [0, -1, 2.5, 1000],
      ],
    ],
    ['instances', '{"instances": [[1, 2, 3, 4]]}', [[1, 2, 3, 4]]],
    [
      'a batch at the row limit',
      JSON.stringify([
        [1, 1, 1, 1],
        [2, 2, 2, 2],
        [3, 3, 3, 3],
      ]),
      [
        [1, 1, 1, 1],
        [2, 2, 2, 2],
        [3, 3, 3, 3],
      ],
    ],
  ])('accepts %s', (_name, body, rows) => {
    expect(parseInvocationRows(body, limits)).toEqual(rows);
  });

  it.each([
    ['', 'Request body is empty'],
    ['{', 'Request body is not valid JSON'],
    ['[1, 2, 3]', 'Row 0 has 3 values; the model expects 4 features'],
    ['[1, 2, 3, 1e400]', 'Row 0, feature 3 must be a finite number, got Infinity'],
    [
      '[1, 2, 3, 3.5e38]',
      'Row 0, feature 3 is outside the float32 range of the model input (magnitude above 3.4028235e38)',
    ],
    [
      '[-1e39, 2, 3, 4]',
      'Row 0, feature 0 is outside the float32 range of the model input (magnitude above 3.4028235e38)',
    ],
    ['[1, 2, 3, -1e400]', 'Row 0, feature 3 must be a finite number, got -Infinity'],
    ['[1, 2, true, 4]', 'Row 0, feature 2 must be a finite number, got a boolean'],
    ['[[1, 2, 3, 4], {"a": 1}]', 'Row 1 must be an array of numbers, got an object'],
    ['[]', 'Batch is empty: send at least one row'],
    ['[[1,1,1,1],[1,1,1,1],[1,1,1,1],[1,1,1,1]]', 'Batch has 4 rows; at most 3 are allowed per request'],
    [
      '"5.1,3.5,1.4,0.2"',
      'Body must be one row [f1, f2, ...], a batch [[...], ...] or {"instances": [[...], ...]}',
    ],
  ])('refuses %j as 400 InvalidInput', (body, message) => {
    const error = errorOf(() => parseInvocationRows(body, limits));
    expect({ status: error.status, code: error.code, message: error.message }).toEqual({
      status: 400,
      code: 'InvalidInput',
      message,
    });
  });
});

describe('assertJsonContentType', () => {
  it.each(['application/json', 'application/json; charset=utf-8', 'Application/JSON'])(
    'accepts %s',
    (type) => {
      expect(() => assertJsonContentType(type)).not.toThrow();
    },
  );

  it.each([undefined, '', 'text/csv', 'application/jsonlines', 'application/x-npy'])(
    'refuses %j with 415',
    (type) => {
      const error = errorOf(() => assertJsonContentType(type));
      expect([error.status, error.code]).toEqual([415, 'UnsupportedMediaType']);
    },
  );
});

describe('readServerConfig', () => {
  it('defaults to the SageMaker port and model directory', () => {
    expect(readServerConfig({})).toEqual({ port: 8080, modelDir: '/opt/ml/model' });
  });

  it('reads PORT and MODEL_DIR', () => {
    expect(readServerConfig({ PORT: '0', MODEL_DIR: '/tmp/m' })).toEqual({ port: 0, modelDir: '/tmp/m' });
  });

  it.each(['http', '-1', '65536', '80.5'])('refuses PORT=%s', (port) => {
    expect(() => readServerConfig({ PORT: port })).toThrow(
      `PORT must be an integer from 0 to 65535, got "${port}"`,
    );
  });
});

describe('toPredictions', () => {
  it('picks the most likely label per row and rounds probabilities', () => {
    const output = Float32Array.from([0.1, 0.7, 0.2, 0.98, 0.01, 0.01]);
    expect(toPredictions(output, ['a', 'b', 'c'])).toEqual([
      { label: 'b', probabilities: [0.1, 0.7, 0.2] },
      { label: 'a', probabilities: [0.98, 0.01, 0.01] },
    ]);
  });

  it('refuses an output that does not fit the labels', () => {
    expect(() => toPredictions(Float32Array.from([0.5, 0.5]), ['a', 'b', 'c'])).toThrow(
      /not a multiple of 3/,
    );
  });

  it("refuses non-finite model output as the input's 422, never a server error", () => {
    const error = errorOf(() => toPredictions(Float32Array.from([0.5, 0.5, NaN, 1]), ['a', 'b']));
    expect([error.status, error.code, error.message]).toEqual([
      422,
      'UnscorableInput',
      expect.stringMatching(/row 1 is not finite/),
    ]);
  });
});

describe('toValues', () => {
  it('reads one value per row, at float32 precision', () => {
    expect(toValues(Float32Array.from([0.1, -2.5, 1e6]))).toEqual([
      { value: 0.1 },
      { value: -2.5 },
      { value: 1e6 },
    ]);
  });

  it("refuses a non-finite value as the input's 422", () => {
    const error = errorOf(() => toValues(Float32Array.from([1, Infinity])));
    expect([error.status, error.code, error.message]).toEqual([
      422,
      'UnscorableInput',
      expect.stringMatching(/row 1/),
    ]);
  });
});

describe('parseModelMetadata', () => {
  const valid = JSON.parse(JSON.stringify(loadModelMetadata('v2.0.0', FIXTURE_MODELS_DIR))) as Record<
    string,
    unknown
  >;
  const regression = JSON.parse(JSON.stringify(loadModelMetadata('v4.0.0', FIXTURE_MODELS_DIR))) as Record<
    string,
    unknown
  >;

  it('accepts a regressor and reads a folder without task, outputs or evaluation as a classifier', () => {
    expect(parseModelMetadata(regression)).toEqual(regression);
    const { task, outputs, evaluation, ...old } = valid;
    expect([task, outputs, evaluation]).toEqual(['classification', expect.anything(), expect.anything()]);
    expect(parseModelMetadata(old)).toEqual({
      ...old,
      task: 'classification',
      outputs: { probabilities: 'probabilities' },
    });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['labels', { labels: ['a', 'b'] }, 'labels must be absent for a regression model'],
    [
      'a golden row without value',
      { golden: [{ features: [1, 2, 3, 4, 5, 6], label: 'a' }] },
      'golden[0].value must be a finite number',
    ],
    ['bins out of order', { regressionBins: [2, 1] }, 'regressionBins must be strictly ascending'],
    ['no value output', { outputs: { probabilities: 'p' } }, 'outputs.value must be a non-empty string'],
    [
      'a negative error',
      { evaluation: { rows: 3, source: 's', metrics: { mae: -1 } } },
      'evaluation.metrics.mae must be >= 0',
    ],
  ])('refuses a regressor with %s', (_name, change, message) => {
    expect(() => parseModelMetadata({ ...regression, ...change })).toThrow(
      new InvalidMetadataError(`metadata.json: ${message}`),
    );
  });

  it('accepts the committed metadata unchanged', () => {
    expect(parseModelMetadata(valid)).toEqual(valid);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['no version', { version: '' }, 'version must be a non-empty string'],
    ['a zero feature count', { featureCount: 0 }, 'featureCount must be an integer >= 1'],
    ['duplicate labels', { labels: ['a', 'a'] }, 'labels must be free of duplicates'],
    ['one label', { labels: ['a'] }, 'labels must be an array of at least 2 labels'],
    [
      'a golden label outside the labels',
      { golden: [{ features: [1, 2, 3, 4], label: 'rose' }] },
      'golden[0].label must be one of the labels (alpha, beta, gamma)',
    ],
    [
      'a short golden row',
      { golden: [{ features: [1], label: 'alpha' }] },
      'golden[0].features must be an array of 4 items',
    ],
    ['an unknown task', { task: 'ranking' }, 'task must be "classification" or "regression"'],
    [
      'accuracy above 1',
      { evaluation: { rows: 3, source: 's', metrics: { accuracy: 97 } } },
      'evaluation.metrics.accuracy must be between 0 and 1',
    ],
    [
      'recall of an unknown label',
      { evaluation: { rows: 3, source: 's', metrics: { perClassRecall: { rose: 1 } } } },
      'evaluation.metrics.perClassRecall.rose must be keyed by one of the labels',
    ],
    ['training that is not an object', { training: 'sgd' }, 'training must be an object'],
  ])('refuses %s', (_name, change, message) => {
    expect(() => parseModelMetadata({ ...valid, ...change })).toThrow(
      new InvalidMetadataError(`metadata.json: ${message}`),
    );
  });

  it('refuses feature stats whose bins do not sum to 1', () => {
    const stats = valid.featureStats as Record<string, unknown>[];
    const broken = [
      { ...stats[0], binFractions: (stats[0].binFractions as number[]).map(() => 0.5) },
      ...stats.slice(1),
    ];
    expect(() => parseModelMetadata({ ...valid, featureStats: broken })).toThrow(
      'featureStats[0].binFractions must be non-negative and sum to 1',
    );
  });

  it('refuses feature stats in another order than featureNames', () => {
    const stats = valid.featureStats as unknown[];
    expect(() =>
      parseModelMetadata({ ...valid, featureStats: [stats[1], stats[0], ...stats.slice(2)] }),
    ).toThrow('featureStats[0].name must be "f1"');
  });
});
