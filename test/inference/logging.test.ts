import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { PredictionStore } from '../../services/inference/adapters/predictions-table';
import { UpstreamError } from '../../services/inference/errors';
import { loggableError, maskNumbers } from '../../services/inference/log-safety';
import { createPredictHandler } from '../../services/inference/predict-handler';
import { createObservability } from '../../services/inference/runtime';
import { apiEvent } from '../support/api-events';

const features = [4.321987, 3.141593, 1.414214, 0.577216];

/** Everything Powertools writes (it prints through its own console on process.stdout/stderr). */
async function captureLogs(action: () => Promise<unknown>): Promise<string> {
  const lines: string[] = [];
  const capture = (chunk: unknown) => {
    lines.push(String(chunk));
    return true;
  };
  const out = jest.spyOn(process.stdout, 'write').mockImplementation(capture);
  const err = jest.spyOn(process.stderr, 'write').mockImplementation(capture);
  try {
    await action();
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  return lines.join('');
}

describe('maskNumbers', () => {
  it('masks number literals that could be feature values, keeps status codes, ports and addresses', () => {
    expect(
      maskNumbers('Number 10000000000000000 is greater than Number.MAX_SAFE_INTEGER. Use NumberValue'),
    ).toBe('Number <number> is greater than Number.MAX_SAFE_INTEGER. Use NumberValue');
    expect(maskNumbers('row [5.1, -3.5, 1e-200, 3.5e+38]')).toBe(
      'row [<number>, <number>, <number>, <number>]',
    );
    expect(maskNumbers('connect ECONNREFUSED 127.0.0.1:8080 after status 503')).toBe(
      'connect ECONNREFUSED 127.0.0.1:8080 after status 503',
    );
  });

  it("keeps an error's name, status and cause chain, masking the dependency's text", () => {
    let marshalError: unknown;
    try {
      marshall({ inputFeatures: [2 ** 53] });
    } catch (error) {
      marshalError = error;
    }
    const logged = JSON.stringify(loggableError(new UpstreamError('model-error', { cause: marshalError })));
    expect(logged).not.toContain('9007199254740992');
    expect(JSON.parse(logged)).toMatchObject({
      name: 'UpstreamError',
      kind: 'model-error',
      cause: { name: 'Error' },
    });
  });
});

describe('no request payload in the logs at INFO or above', () => {
  const store: PredictionStore = {
    get: async () => undefined,
    putIfAbsent: async () => {
      throw new Error(`Number ${features[0]} could not be stored in ${JSON.stringify(features)}`);
    },
  };
  const handler = (model: Parameters<typeof createPredictHandler>[0]['model']) =>
    createPredictHandler({
      model,
      store,
      parameters: {
        inputSchema: async () => ({ task: 'classification' as const, featureCount: 4, versions: ['v7.0.0'] }),
      },
      logger: new Logger({ serviceName: 'predict', logLevel: 'INFO' }),
      metrics: new Metrics({ namespace: 'Test', logger: new Logger({ logLevel: 'SILENT' }) }),
    });
  const scored = {
    score: async () => ({
      modelVersion: 'v1.0.0',
      variant: 'VariantA',
      predictions: [{ label: 'a', probabilities: [1] }],
    }),
  };
  const echoing = {
    score: async () => {
      throw new UpstreamError('model-error', { cause: new Error(`row ${JSON.stringify(features)} failed`) });
    },
  };

  it.each([
    ['a store failure that echoes the features', scored, 500],
    ['a model failure that echoes the row', echoing, 502],
  ])('logs %s without the values', async (_, model, status) => {
    let answer = 0;
    const logs = await captureLogs(async () => {
      answer = (await handler(model)(apiEvent({ body: JSON.stringify({ features, requestId: 'r-1' }) })))
        .statusCode;
    });
    expect(answer).toBe(status);
    expect(logs).toContain('Request failed');
    for (const value of features) expect(logs).not.toContain(String(value));
  });

  it('logs a refused request with its code only', async () => {
    const logs = await captureLogs(() =>
      handler(scored)(apiEvent({ body: JSON.stringify({ features: [...features.slice(0, 3), 1e16] }) })),
    );
    expect(logs).toContain('InvalidFeatures');
    for (const value of [...features.slice(0, 3), 1e16]) expect(logs).not.toContain(String(value));
  });
});

describe('log level from the function environment', () => {
  it('builds the Powertools logger at POWERTOOLS_LOG_LEVEL, which the stage config sets', () => {
    const previous = process.env.POWERTOOLS_LOG_LEVEL;
    try {
      process.env.POWERTOOLS_LOG_LEVEL = 'WARN';
      expect(createObservability('predict').logger.getLevelName()).toBe('WARN');
      process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
      expect(createObservability('predict').logger.getLevelName()).toBe('DEBUG');
    } finally {
      if (previous === undefined) delete process.env.POWERTOOLS_LOG_LEVEL;
      else process.env.POWERTOOLS_LOG_LEVEL = previous;
    }
  });
});
