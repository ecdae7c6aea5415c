import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { createPredictionStore } from '../../services/inference/adapters/predictions-table';
import { createSageMakerEndpoint } from '../../services/inference/adapters/sagemaker-endpoint';
import { createGetPredictionHandler } from '../../services/inference/get-prediction-handler';
import type { ApiHandler } from '../../services/inference/http';
import { createPredictHandler } from '../../services/inference/predict-handler';
import { apiEvent } from '../support/api-events';
import { startPredictionsTable, type LocalPredictionsTable } from '../support/dynalite';
import { fuzzBodies } from '../support/fuzz-inputs';
import { localCredentials, localRegion } from '../support/local-aws';
import { startModelEndpoint, type LocalModelEndpoint } from '../support/model-endpoint';

/** No client input yields a 5xx from the API: 600 seeded hostile bodies through the real handlers. */
let table: LocalPredictionsTable;
let endpoint: LocalModelEndpoint;
let sagemaker: SageMakerRuntimeClient;
let predict: ApiHandler;
let getPrediction: ApiHandler;
const silent = () => new Logger({ logLevel: 'SILENT' });
const quietMetrics = () => new Metrics({ namespace: 'Test', logger: silent() });

beforeAll(async () => {
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  [table, endpoint] = await Promise.all([startPredictionsTable(), startModelEndpoint()]);
  sagemaker = new SageMakerRuntimeClient({
    endpoint: endpoint.url,
    region: localRegion,
    credentials: localCredentials,
  });
  const store = createPredictionStore({ client: table.client, tableName: table.tableName });
  predict = createPredictHandler({
    model: createSageMakerEndpoint({ client: sagemaker, endpointName: endpoint.endpointName }),
    store,
    parameters: {
      inputSchema: async () => ({ task: 'classification' as const, featureCount: 4, versions: ['v7.0.0'] }),
    },
    logger: silent(),
    metrics: quietMetrics(),
  });
  getPrediction = createGetPredictionHandler({ store, logger: silent(), metrics: quietMetrics() });
});

afterAll(async () => {
  delete process.env.POWERTOOLS_METRICS_DISABLED;
  sagemaker.destroy();
  await Promise.all([table.close(), endpoint.close()]);
});

describe('POST /predict fuzz (seeded)', () => {
  const bodies = fuzzBodies(12, 600, 4);
  const answers: { body: string; status: number; answer: Record<string, unknown> }[] = [];

  beforeAll(async () => {
    for (const body of bodies) {
      const result = await predict(apiEvent({ body }));
      answers.push({
        body,
        status: result.statusCode,
        answer: JSON.parse(result.body) as Record<string, unknown>,
      });
    }
  }, 120_000);

  it('answers every body 200 or 4xx with the error shape, never 5xx', () => {
    const serverErrors = answers.filter((a) => a.status >= 500).map((a) => `${a.status} ${a.body}`);
    expect(serverErrors).toEqual([]);
    for (const { status, answer } of answers.filter((a) => a.status !== 200)) {
      expect([status, answer]).toEqual([
        expect.any(Number),
        { error: { code: expect.any(String), message: expect.any(String) } },
      ]);
    }
    // The corpus exercises both sides of the rule.
    expect(answers.filter((a) => a.status === 200).length).toBeGreaterThan(10);
    expect(answers.filter((a) => a.status === 400).length).toBeGreaterThan(100);
  });

  it('stores every accepted body losslessly: the read-back features are the parsed ones', async () => {
    const mismatches: string[] = [];
    for (const { body, answer } of answers.filter((a) => a.status === 200)) {
      const id = String(answer.predictionId);
      const read = await getPrediction(
        apiEvent({ method: 'GET', path: `/predictions/${id}`, pathParameters: { id } }),
      );
      const sent = (JSON.parse(body) as { features: number[] }).features.map((v) =>
        Object.is(v, -0) ? 0 : v,
      );
      if (
        read.statusCode !== 200 ||
        JSON.stringify((JSON.parse(read.body) as { features: number[] }).features) !== JSON.stringify(sent)
      )
        mismatches.push(body);
    }
    expect(mismatches).toEqual([]);
  });
});
