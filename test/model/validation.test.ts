import { readServerConfig } from '../../services/model/config';
import { InvalidMetadataError, parseModelMetadata } from '../../services/model/metadata';
import { selectOutputName, toPredictions } from '../../services/model/model';
import { assertJsonContentType, parseInvocationRows, RequestError } from '../../services/model/validation';
import { loadModelMetadata } from '../../services/model/artifacts';

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

describe('selectOutputName', () => {
  it('prefers "probabilities", else the only output', () => {
    expect(selectOutputName(['label', 'probabilities'])).toBe('probabilities');
    expect(selectOutputName(['output_probability'])).toBe('output_probability');
  });

  it('refuses an ambiguous graph', () => {
    expect(() => selectOutputName(['label', 'scores'])).toThrow(
      /name the class probabilities "probabilities"/,
    );
  });
});

describe('parseModelMetadata', () => {
  const valid = JSON.parse(JSON.stringify(loadModelMetadata('v1.0.0'))) as Record<string, unknown>;

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
      'golden[0].label must be one of the labels (setosa, versicolor, virginica)',
    ],
    [
      'a short golden row',
      { golden: [{ features: [1], label: 'setosa' }] },
      'golden[0].features must be an array of 4 items',
    ],
    ['missing training', { training: undefined }, 'training must be an object'],
    [
      'accuracy above 1',
      { training: { ...(valid.training as object), accuracy: 97 } },
      'training.accuracy must be between 0 and 1',
    ],
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
    ).toThrow('featureStats[0].name must be "sepal_length"');
  });
});
