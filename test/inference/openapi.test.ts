import { readFileSync } from 'node:fs';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { API_RESPONSES } from '../../lib/app/inference/api-models';
import { OPENAPI_PATH, renderOpenApi } from '../../scripts/openapi';
import { createPredictionStore } from '../../services/inference/adapters/predictions-table';
import { createSageMakerEndpoint } from '../../services/inference/adapters/sagemaker-endpoint';
import { createGetPredictionHandler } from '../../services/inference/get-prediction-handler';
import type { ApiHandler } from '../../services/inference/http';
import { createPredictHandler } from '../../services/inference/predict-handler';
import { apiEvent } from '../support/api-events';
import { openApiValidators } from '../support/openapi';
import { startPredictionsTable, type LocalPredictionsTable } from '../support/dynalite';
import { localCredentials, localRegion } from '../support/local-aws';
import {
  startModelEndpoint,
  unreachableModelEndpoint,
  type LocalModelEndpoint,
} from '../support/model-endpoint';

type Route = keyof typeof API_RESPONSES;
const validators = openApiValidators();

describe('docs/openapi.json', () => {
  it('is the document generated from the API models (run npm run openapi after changing them)', () => {
    expect(readFileSync(OPENAPI_PATH, 'utf8')).toBe(renderOpenApi());
  });
});

describe('the handlers answer what the document says', () => {
  let table: LocalPredictionsTable;
  let endpoint: LocalModelEndpoint;
  let sagemaker: SageMakerRuntimeClient;
  let predict: ApiHandler;
  let getPrediction: ApiHandler;
  const features = [5.1, 3.5, 1.4, 0.2];
  const silent = () => new Logger({ logLevel: 'SILENT' });
  const metrics = () => new Metrics({ namespace: 'Test', logger: silent() });

  beforeAll(async () => {
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    [table, endpoint] = await Promise.all([
      startPredictionsTable(),
      startModelEndpoint({
        fault: ({ body }) => (body.includes('[98,') ? { statusCode: 400, message: 'refused' } : undefined),
      }),
    ]);
    sagemaker = new SageMakerRuntimeClient({
      endpoint: endpoint.url,
      region: localRegion,
      credentials: localCredentials,
    });
    const store = createPredictionStore({ client: table.client, tableName: table.tableName });
    const parameters = {
      inputSchema: async () => ({ task: 'classification' as const, featureCount: 4, versions: ['v7.0.0'] }),
    };
    predict = createPredictHandler({
      model: createSageMakerEndpoint({ client: sagemaker, endpointName: endpoint.endpointName }),
      store,
      parameters,
      logger: silent(),
      metrics: metrics(),
    });
    getPrediction = createGetPredictionHandler({ store, logger: silent(), metrics: metrics() });
  });

  afterAll(async () => {
    delete process.env.POWERTOOLS_METRICS_DISABLED;
    sagemaker.destroy();
    await Promise.all([table.close(), endpoint.close()]);
  });

  const expectDocumented = (route: Route, result: APIGatewayProxyResult) => {
    const model = (API_RESPONSES[route] as Record<number, string>)[result.statusCode];
    expect([route, result.statusCode, model !== undefined]).toEqual([route, result.statusCode, true]);
    const validate = validators[model!]!;
    const body: unknown = JSON.parse(result.body);
    expect([result.statusCode, validate(body) ? [] : validate.errors]).toEqual([result.statusCode, []]);
  };
  const post = (body: unknown, headers?: Record<string, string>) =>
    predict(apiEvent({ body: typeof body === 'string' ? body : JSON.stringify(body), headers }));

  it('POST /predict: 200, 400, 409, 413, 415, 422 and 403 bodies match their models', async () => {
    const created = await post({ features, requestId: 'doc-1' });
    expect(created.statusCode).toBe(200);
    expectDocumented('POST /predict', created);
    const cases = [
      await post({ features: [1, 2, 3] }),
      await post({ features: [7, 7, 7, 7], requestId: 'doc-1' }),
      await post({ features, pad: 'x'.repeat(20_000) }),
      await post({ features }, { 'Content-Type': 'text/plain' }),
      await post({ features: [98, 1, 1, 1] }),
      await predict({
        ...apiEvent({ body: JSON.stringify({ features }) }),
        requestContext: { ...apiEvent().requestContext, identity: {} as never },
      }),
    ];
    expect(cases.map((c) => c.statusCode)).toEqual([400, 409, 413, 415, 422, 403]);
    for (const result of cases) expectDocumented('POST /predict', result);
  });

  it('POST /predict: 503 when the endpoint is down matches its model', async () => {
    const down = createPredictHandler({
      model: await unreachableModelEndpoint(endpoint.endpointName),
      store: createPredictionStore({ client: table.client, tableName: table.tableName }),
      parameters: {
        inputSchema: async () => ({ task: 'classification' as const, featureCount: 4, versions: ['v7.0.0'] }),
      },
      logger: silent(),
      metrics: metrics(),
    });
    const result = await down(apiEvent({ body: JSON.stringify({ features }) }));
    expect(result.statusCode).toBe(503);
    expectDocumented('POST /predict', result);
  });

  it('GET /predictions/{id}: 200, 400 and 404 bodies match their models', async () => {
    const { predictionId } = JSON.parse((await post({ features, requestId: 'doc-2' })).body) as {
      predictionId: string;
    };
    const get = (id: string) =>
      getPrediction(apiEvent({ method: 'GET', path: `/predictions/${id}`, pathParameters: { id } }));
    const results = [
      await get(predictionId),
      await get('nope'),
      await get('00000000-0000-4000-8000-000000000000'),
    ];
    expect(results.map((r) => r.statusCode)).toEqual([200, 400, 404]);
    for (const result of results) expectDocumented('GET /predictions/{id}', result);
  });
});

describe('one answer schema for both tasks', () => {
  let table: LocalPredictionsTable;
  const silent = () => new Logger({ logLevel: 'SILENT' });
  const predictedValue = 41.75;

  beforeAll(async () => {
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    table = await startPredictionsTable();
  });

  afterAll(async () => {
    delete process.env.POWERTOOLS_METRICS_DISABLED;
    await table.close();
  });

  /** A predict handler over a regressor stand-in that takes 8 features (a fixture, no shipped version). */
  const regressionHandlers = () => {
    const store = createPredictionStore({ client: table.client, tableName: table.tableName });
    const metrics = new Metrics({ namespace: 'Test', logger: silent() });
    const scored: number[][] = [];
    const predict = createPredictHandler({
      model: {
        score: async (rows) => {
          scored.push(...rows.map((row) => [...row]));
          return {
            modelVersion: 'v3.0.0',
            variant: 'VariantB',
            predictions: rows.map(() => ({ value: predictedValue })),
          };
        },
      },
      store,
      parameters: {
        inputSchema: async () => ({ task: 'regression', featureCount: 8, versions: ['v2.0.0', 'v3.0.0'] }),
      },
      logger: silent(),
      metrics,
    });
    const getPrediction = createGetPredictionHandler({ store, logger: silent(), metrics });
    return { predict, getPrediction, scored };
  };

  it('a regressor answers {value}, which PredictAnswer and PredictionRecord accept', async () => {
    const { predict, getPrediction } = regressionHandlers();
    const features = [1, 2, 3, 4, 5, 6, 7, 8];
    const answer = await predict(apiEvent({ body: JSON.stringify({ features }) }));
    expect(answer.statusCode).toBe(200);
    const body = JSON.parse(answer.body) as { predictionId: string; result: unknown };
    expect(body.result).toEqual({ value: predictedValue });
    expect(validators.PredictAnswer!(body)).toBe(true);
    const id = body.predictionId;
    const record = await getPrediction(
      apiEvent({ method: 'GET', path: `/predictions/${id}`, pathParameters: { id } }),
    );
    expect(record.statusCode).toBe(200);
    const stored: unknown = JSON.parse(record.body);
    expect(stored).toMatchObject({ result: { value: predictedValue }, features });
    expect(validators.PredictionRecord!(stored)).toBe(true);
  });

  it("refuses a request of another width with 400 naming the deployed models' count, and scores nothing", async () => {
    const { predict, scored } = regressionHandlers();
    const result = await predict(apiEvent({ body: JSON.stringify({ features: [5.1, 3.5, 1.4, 0.2] }) }));
    expect(result.statusCode).toBe(400);
    expect(JSON.parse(result.body)).toEqual({
      error: {
        code: 'InvalidFeatures',
        message:
          'features must have exactly 8 entries, the input of the deployed models v2.0.0 and v3.0.0; got 4.',
      },
    });
    expect(validators.ErrorAnswer!(JSON.parse(result.body))).toBe(true);
    expect(scored).toEqual([]);
  });

  it('the result schema accepts exactly one task shape', () => {
    const answer = (result: unknown) => ({
      predictionId: '00000000-0000-4000-8000-000000000000',
      result,
      modelVersion: 'v3.0.0',
      variant: 'VariantA',
    });
    const accepts = (result: unknown) => validators.PredictAnswer!(answer(result));
    expect(accepts({ label: 'yes', probabilities: [0.8, 0.2] })).toBe(true);
    expect(accepts({ value: -3.5 })).toBe(true);
    expect(accepts({ label: 'yes', probabilities: [0.8, 0.2], value: 1 })).toBe(false);
    expect(accepts({ value: 'high' })).toBe(false);
    expect(accepts({ label: 'yes' })).toBe(false);
    expect(accepts({})).toBe(false);
  });
});
