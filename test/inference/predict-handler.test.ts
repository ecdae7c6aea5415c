import type { ClassificationMetadata } from '../../services/model/metadata';
import { FIXTURE_BASELINE, FIXTURE_CANDIDATE } from '../support/model-fixtures';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { createPredictionStore } from '../../services/inference/adapters/predictions-table';
import type { ApiHandler } from '../../services/inference/http';
import { createPredictHandler } from '../../services/inference/predict-handler';
import { scoringAdaptersFromEnv } from '../../services/inference/scoring-adapters';
import type { PredictionItem } from '../../services/inference/prediction';
import { apiEvent } from '../support/api-events';
import { startSsmStandIn, type SsmStandIn } from '../support/aws-json-stand-ins';
import { startPredictionsTable, type LocalPredictionsTable } from '../support/dynalite';
import { useLocalAwsEnv } from '../support/local-aws';
import {
  startModelEndpoint,
  unreachableModelEndpoint,
  type LocalModelEndpoint,
} from '../support/model-endpoint';

const prefix = '/ml-inference/test/model';
const failingFeature = 99; // the stand-in answers 500 for rows starting with it
const refusedFeature = 98; // the stand-in answers 400, as the container does for input it cannot score
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let table: LocalPredictionsTable;
let endpoint: LocalModelEndpoint;
let ssm: SsmStandIn;
let restoreEnv: () => void;
let predict: ApiHandler;
let getPrediction: ApiHandler;
let golden: { features: number[]; label: string };

const post = (body: unknown) =>
  predict(apiEvent({ body: typeof body === 'string' ? body : JSON.stringify(body) }));
const json = (result: APIGatewayProxyResult) => JSON.parse(result.body) as Record<string, unknown>;

beforeAll(async () => {
  [table, endpoint] = await Promise.all([
    startPredictionsTable(),
    startModelEndpoint({
      fault: ({ body }) => {
        const rows = (JSON.parse(body) as { instances: number[][] }).instances;
        if (rows.some((row) => row[0] === failingFeature))
          return { statusCode: 500, message: 'onnxruntime: internal tensor failure at /opt/ml/model' };
        if (rows.some((row) => row[0] === refusedFeature))
          return { statusCode: 400, message: '{"error":{"code":"InvalidInput","message":"no"}}' };
        return undefined;
      },
    }),
  ]);
  const metadata = endpoint.metadata[FIXTURE_BASELINE] as ClassificationMetadata;
  golden = metadata.golden[0]! as { features: number[]; label: string };
  ssm = await startSsmStandIn({
    [`${prefix}/input-schema`]: JSON.stringify({
      task: 'classification',
      featureCount: metadata.featureCount,
      versions: [FIXTURE_BASELINE, FIXTURE_CANDIDATE],
      labels: metadata.labels,
    }),
  });
  restoreEnv = useLocalAwsEnv({
    AWS_ENDPOINT_URL_DYNAMODB: table.endpoint,
    AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME: endpoint.url,
    AWS_ENDPOINT_URL_SSM: ssm.url,
    ENDPOINT_NAME: endpoint.endpointName,
    TABLE_NAME: table.tableName,
    MODEL_PARAMETER_PREFIX: prefix,
  });
  predict = (await import('../../services/inference/predict-handler')).handler;
  getPrediction = (await import('../../services/inference/get-prediction-handler')).handler;
});

afterAll(async () => {
  restoreEnv();
  await Promise.all([table.close(), endpoint.close(), ssm.close()]);
});

describe('POST /predict', () => {
  let answer: Record<string, unknown>;

  beforeAll(async () => {
    const result = await post({ features: golden.features });
    expect(result.statusCode).toBe(200);
    answer = json(result);
  });

  it('answers predictionId, result, modelVersion and the invoked variant', () => {
    expect(Object.keys(answer).sort()).toEqual(['modelVersion', 'predictionId', 'result', 'variant']);
    expect(answer.predictionId).toMatch(uuid);
    const result = answer.result as { label: string; probabilities: number[] };
    expect((endpoint.metadata[FIXTURE_BASELINE] as ClassificationMetadata).labels).toContain(result.label);
    expect(result.probabilities).toHaveLength(3);
    expect(result.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    expect([
      ['VariantA', FIXTURE_BASELINE],
      ['VariantB', FIXTURE_CANDIDATE],
    ]).toContainEqual([answer.variant, answer.modelVersion]);
  });

  it('predicts the golden label of the model version that answered', async () => {
    for (const version of [FIXTURE_BASELINE, FIXTURE_CANDIDATE]) {
      for (const request of (endpoint.metadata[version] as ClassificationMetadata).golden) {
        const result = json(await post({ features: request.features }));
        if (result.modelVersion === version) {
          expect((result.result as { label: string }).label).toBe(request.label);
        }
      }
    }
  });

  it('stores the item of CONTRACTS.md with a 30-day TTL', async () => {
    const stored = (await table.items()).find(
      (i) => i.predictionId === answer.predictionId,
    ) as unknown as PredictionItem;
    expect(stored).toEqual({
      predictionId: answer.predictionId,
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      modelVersion: answer.modelVersion,
      invokedVariant: answer.variant,
      modelLatencyMs: expect.any(Number),
      prediction: answer.result,
      inputFeatures: golden.features,
      expirationTime: expect.any(Number),
      source: 'api',
      caller: 'arn:aws:iam::000000000000:user/test',
    });
    expect(stored.expirationTime).toBe(Math.floor(Date.parse(stored.timestamp) / 1000) + 30 * 86_400);
    expect(Math.abs(Date.parse(stored.timestamp) - Date.now())).toBeLessThan(60_000);
  });

  it('answers a retry with the same requestId from the same single item', async () => {
    const before = (await table.items()).length;
    const body = { features: golden.features, requestId: 'client-42:retry.test' };
    const first = await post(body);
    const invocations = endpoint.standIn.invocations.length;
    const second = await post(body);
    expect(first.statusCode).toBe(200);
    expect(second.body).toBe(first.body);
    expect(endpoint.standIn.invocations.length).toBe(invocations);
    const items = await table.items();
    expect(items).toHaveLength(before + 1);
    expect(items.filter((i) => i.requestId === body.requestId)).toHaveLength(1);
  });

  it('refuses a requestId reused for different features with 409 and keeps the first item', async () => {
    await post({ features: golden.features, requestId: 'reused-id' });
    const before = await table.items();
    const result = await post({ features: [7, 3.2, 4.7, 1.4], requestId: 'reused-id' });
    expect(result.statusCode).toBe(409);
    expect(json(result)).toEqual({ error: { code: 'RequestIdConflict', message: expect.any(String) } });
    expect(await table.items()).toEqual(before);
  });

  it('reads Parameter Store through a cache, not once per request', async () => {
    await Promise.all(Array.from({ length: 10 }, () => post({ features: golden.features })));
    expect(ssm.getParameterCalls()).toBe(1);
  });

  it('answers 502 ModelError with no internal text when the model container fails', async () => {
    const before = (await table.items()).length;
    const result = await post({ features: [failingFeature, 1, 1, 1] });
    expect(result.statusCode).toBe(502);
    expect(json(result)).toEqual({ error: { code: 'ModelError', message: expect.any(String) } });
    expect(result.headers?.['Retry-After']).toBe('1');
    expect(result.body).not.toMatch(/onnx|tensor|opt\/ml|stack|Error:/i);
    expect(await table.items()).toHaveLength(before);
  });

  it('answers 422 ModelRejectedInput, not retryable, when the container refuses the input', async () => {
    const before = (await table.items()).length;
    const result = await post({ features: [refusedFeature, 1, 1, 1] });
    expect(result.statusCode).toBe(422);
    expect(json(result)).toEqual({ error: { code: 'ModelRejectedInput', message: expect.any(String) } });
    expect(result.headers?.['Retry-After']).toBeUndefined();
    expect(await table.items()).toHaveLength(before);
  });
});

describe('POST /predict with numbers the model or the table cannot take (issue 12)', () => {
  // Each of these answered 500 (DynamoDB marshalling or underflow) or 502 "retry later" before.
  it.each([
    ['1e16', 1e16],
    ['2^53', 2 ** 53],
    ['-2^53', -(2 ** 53)],
    ['1e-200', 1e-200],
    ['5e-324', 5e-324],
    ['3.5e38', 3.5e38],
    ['1e39', 1e39],
  ])('answers %s with 400 InvalidFeatures, scores nothing and writes nothing', async (_, value) => {
    const before = (await table.items()).length;
    const invocations = endpoint.standIn.invocations.length;
    const result = await post({ features: [value, 3.5, 1.4, 0.2], requestId: `range-${_}` });
    expect(result.statusCode).toBe(400);
    expect(json(result)).toEqual({ error: { code: 'InvalidFeatures', message: expect.any(String) } });
    expect(result.body).not.toContain(String(value));
    expect(endpoint.standIn.invocations.length).toBe(invocations);
    expect(await table.items()).toHaveLength(before);
  });

  it.each([
    ['2^53 - 1', 2 ** 53 - 1],
    ['1e-40 (a float32 subnormal)', 1e-40],
    ['-0', -0],
  ])('scores and stores the boundary value %s', async (_, value) => {
    const result = await post({ features: [value, 3.5, 1.4, 0.2] });
    expect(result.statusCode).toBe(200);
    const stored = await getPrediction(
      apiEvent({ method: 'GET', path: '/x', pathParameters: { id: String(json(result).predictionId) } }),
    );
    expect((json(stored).features as number[])[0]).toBe(value === 0 ? 0 : value);
  });
});

describe('POST /predict with malformed requests', () => {
  const features = [5.1, 3.5, 1.4, 0.2];
  const corpus: [string, string | null, Record<string, string>?][] = [
    ['no body', null],
    ['empty body', ''],
    ['whitespace body', '   \n'],
    ['not JSON', 'features=1,2,3,4'],
    ['truncated JSON', '{"features": [1, 2, 3, 4]'],
    ['trailing garbage', '{"features": [1, 2, 3, 4]} x'],
    ['single quotes', "{'features': [1, 2, 3, 4]}"],
    ['JSON null', 'null'],
    ['JSON number', '42'],
    ['JSON string', '"features"'],
    ['JSON true', 'true'],
    ['JSON array of numbers', '[5.1, 3.5, 1.4, 0.2]'],
    ['JSON array of objects', JSON.stringify([{ features }])],
    ['empty object', '{}'],
    ['features missing, requestId only', JSON.stringify({ requestId: 'abc' })],
    ['features null', JSON.stringify({ features: null })],
    ['features a string', JSON.stringify({ features: '5.1,3.5,1.4,0.2' })],
    ['features a number', JSON.stringify({ features: 5.1 })],
    ['features an object', JSON.stringify({ features: { 0: 5.1, 1: 3.5, 2: 1.4, 3: 0.2 } })],
    ['features empty', JSON.stringify({ features: [] })],
    ['three features', JSON.stringify({ features: [5.1, 3.5, 1.4] })],
    ['five features', JSON.stringify({ features: [...features, 1] })],
    ['one feature', JSON.stringify({ features: [5.1] })],
    ['a thousand features', JSON.stringify({ features: Array.from({ length: 1000 }, () => 1) })],
    ['nested rows', JSON.stringify({ features: [features] })],
    ['batch of rows', JSON.stringify({ features: [features, features] })],
    ['string feature', JSON.stringify({ features: [5.1, '3.5', 1.4, 0.2] })],
    ['null feature', JSON.stringify({ features: [5.1, null, 1.4, 0.2] })],
    ['boolean feature', JSON.stringify({ features: [5.1, true, 1.4, 0.2] })],
    ['object feature', JSON.stringify({ features: [5.1, {}, 1.4, 0.2] })],
    ['array feature', JSON.stringify({ features: [5.1, [3.5], 1.4, 0.2] })],
    ['overflowing number', '{"features": [1e999, 3.5, 1.4, 0.2]}'],
    ['negative overflow', '{"features": [5.1, -1e999, 1.4, 0.2]}'],
    ['NaN literal', '{"features": [NaN, 3.5, 1.4, 0.2]}'],
    ['Infinity literal', '{"features": [Infinity, 3.5, 1.4, 0.2]}'],
    ['hex number', '{"features": [0x10, 3.5, 1.4, 0.2]}'],
    ['sparse array', '{"features": [5.1, , 1.4, 0.2]}'],
    ['unknown field', JSON.stringify({ features, extra: 1 })],
    ['misspelled features', JSON.stringify({ feature: features })],
    ['proto pollution', '{"features": [5.1, 3.5, 1.4, 0.2], "__proto__": {"admin": true}}'],
    ['constructor field', JSON.stringify({ features, constructor: 'x' })],
    ['requestId empty', JSON.stringify({ features, requestId: '' })],
    ['requestId a number', JSON.stringify({ features, requestId: 42 })],
    ['requestId null', JSON.stringify({ features, requestId: null })],
    ['requestId with spaces', JSON.stringify({ features, requestId: 'a b' })],
    ['requestId with slash', JSON.stringify({ features, requestId: '../etc/passwd' })],
    ['requestId too long', JSON.stringify({ features, requestId: 'x'.repeat(129) })],
    ['requestId unicode', JSON.stringify({ features, requestId: 'é-1' })],
    ['requestId an array', JSON.stringify({ features, requestId: ['a'] })],
    ['requestId with newline', JSON.stringify({ features, requestId: 'a\nb' })],
    ['body over the size limit', JSON.stringify({ features, requestId: 'a', pad: ' '.repeat(20_000) })],
    ['wrong content type', JSON.stringify({ features }), { 'Content-Type': 'text/plain' }],
    [
      'form content type',
      JSON.stringify({ features }),
      { 'content-type': 'application/x-www-form-urlencoded' },
    ],
    ['xml content type', '<features>1</features>', { 'Content-Type': 'application/xml' }],
  ];

  it('holds at least 50 cases', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(50);
  });

  it('answers every case 4xx with the error shape, scores nothing and writes nothing', async () => {
    const itemsBefore = (await table.items()).length;
    const invocationsBefore = endpoint.standIn.invocations.length;
    const answers: [string, number, unknown][] = [];
    for (const [name, body, headers] of corpus) {
      const result = await predict(apiEvent({ body, headers }));
      answers.push([name, result.statusCode, JSON.parse(result.body)]);
    }
    for (const [name, status, body] of answers) {
      expect([name, status >= 400 && status < 500]).toEqual([name, true]);
      expect([name, body]).toEqual([
        name,
        { error: { code: expect.any(String), message: expect.any(String) } },
      ]);
      expect(JSON.stringify(body)).not.toMatch(/\bat \w|\.ts:|node_modules|SyntaxError/);
    }
    expect(answers.find(([name]) => name === 'body over the size limit')?.[1]).toBe(413);
    expect(answers.find(([name]) => name === 'wrong content type')?.[1]).toBe(415);
    expect(endpoint.standIn.invocations.length).toBe(invocationsBefore);
    expect(await table.items()).toHaveLength(itemsBefore);
  });

  it('accepts a base64-encoded body like API Gateway sends for binary media types', async () => {
    const body = Buffer.from(JSON.stringify({ features })).toString('base64');
    const result = await predict(apiEvent({ body, isBase64Encoded: true }));
    expect(result.statusCode).toBe(200);
  });
});

describe('POST /predict, counted for the rollout judge', () => {
  it('counts each answer by endpoint, answering variant and class: 1 for its label, 0 for the others', async () => {
    const metrics = new Metrics({ namespace: 'Test' });
    const counted: { dimensions: Record<string, string>; name: string; value: number }[] = [];
    jest.spyOn(metrics, 'singleMetric').mockImplementation(() => {
      let dimensions: Record<string, string> = {};
      return {
        addDimensions: (d: Record<string, string>) => {
          dimensions = { ...dimensions, ...d };
        },
        addMetric: (name: string, _unit: unknown, value: number) => counted.push({ dimensions, name, value }),
      } as unknown as Metrics;
    });
    const handler = createPredictHandler({
      ...scoringAdaptersFromEnv(process.env, new Tracer({ enabled: false })),
      logger: new Logger({ logLevel: 'SILENT' }),
      metrics,
      endpointName: 'the-endpoint',
    });
    const result = await handler(apiEvent({ body: JSON.stringify({ features: golden.features }) }));
    const answer = json(result) as { variant: string; result: { label: string } };
    // One datapoint per label the deployed models have: 1 for the answer's, 0 for the others.
    const { labels } = endpoint.metadata[FIXTURE_BASELINE] as ClassificationMetadata;
    expect(counted).toHaveLength(new Set([answer.result.label, ...labels]).size);
    for (const { dimensions, name, value } of counted) {
      expect(name).toBe('PredictionsByClass');
      expect(dimensions).toMatchObject({ EndpointName: 'the-endpoint', VariantName: answer.variant });
      expect(value).toBe(dimensions.PredictedClass === answer.result.label ? 1 : 0);
    }
    const perAnswer = counted.length;
    const refused = await handler(apiEvent({ body: JSON.stringify({ features: [1] }) }));
    expect(refused.statusCode).toBe(400);
    expect(counted).toHaveLength(perAnswer);
  });
});

describe('POST /predict with the endpoint down', () => {
  it('answers 503 ModelUnavailable with no internal text and writes nothing', async () => {
    const handler = createPredictHandler({
      model: await unreachableModelEndpoint(endpoint.endpointName),
      store: createPredictionStore({ client: table.client, tableName: table.tableName }),
      parameters: {
        inputSchema: async () => ({ task: 'classification' as const, featureCount: 4, versions: ['v7.0.0'] }),
      },
      logger: new Logger({ logLevel: 'SILENT' }),
      metrics: new Metrics({ namespace: 'Test' }),
    });
    const before = (await table.items()).length;
    const result = await handler(apiEvent({ body: JSON.stringify({ features: golden.features }) }));
    expect(result.statusCode).toBe(503);
    expect(JSON.parse(result.body)).toEqual({
      error: { code: 'ModelUnavailable', message: expect.any(String) },
    });
    expect(result.headers?.['Retry-After']).toBe('1');
    expect(result.body).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|Error/);
    expect(await table.items()).toHaveLength(before);
  });
});

describe('GET /predictions/{id}', () => {
  const get = (id: string | undefined) =>
    getPrediction(
      apiEvent({
        method: 'GET',
        path: `/predictions/${id}`,
        pathParameters: id === undefined ? null : { id },
      }),
    );

  it('answers the stored prediction in the vocabulary of POST /predict', async () => {
    const created = json(await post({ features: golden.features, requestId: 'read-me' }));
    const result = await get(String(created.predictionId));
    expect(result.statusCode).toBe(200);
    expect(json(result)).toEqual({
      ...created,
      features: golden.features,
      requestId: 'read-me',
      source: 'api',
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      expirationTime: expect.any(Number),
    });
  });

  it('answers 404 with the error shape for an unknown id', async () => {
    const result = await get('00000000-0000-4000-8000-000000000000');
    expect(result.statusCode).toBe(404);
    expect(json(result)).toEqual({ error: { code: 'NotFound', message: expect.any(String) } });
  });

  it.each([['not-a-uuid'], ['00000000-0000-4000-8000-00000000000Z'], [''], [undefined]])(
    'answers 400 for the malformed id %p',
    async (id) => {
      const result = await get(id);
      expect(result.statusCode).toBe(400);
      expect(json(result)).toEqual({ error: { code: 'InvalidPredictionId', message: expect.any(String) } });
    },
  );
});

describe('requestIds and reads scoped by the caller', () => {
  const alice = 'arn:aws:sts::111111111111:assumed-role/Alice/session-1';
  const aliceLater = 'arn:aws:sts::111111111111:assumed-role/Alice/session-2';
  const mallory = 'arn:aws:iam::222222222222:user/mallory';
  const postAs = (caller: string, body: unknown) => predict(apiEvent({ body: JSON.stringify(body), caller }));
  const getAs = (caller: string, id: string) =>
    getPrediction(apiEvent({ method: 'GET', path: `/predictions/${id}`, pathParameters: { id }, caller }));
  let alicesAnswer: Record<string, unknown>;

  beforeAll(async () => {
    const result = await postAs(alice, { features: golden.features, requestId: 'order-1' });
    expect(result.statusCode).toBe(200);
    alicesAnswer = json(result);
  });

  it("answers another caller's reused requestId with its own prediction, neither 409 nor Alice's", async () => {
    const result = await postAs(mallory, { features: [7, 3.2, 4.7, 1.4], requestId: 'order-1' });
    expect(result.statusCode).toBe(200);
    expect(json(result).predictionId).not.toBe(alicesAnswer.predictionId);
    const same = await postAs(mallory, { features: golden.features, requestId: 'order-1' });
    expect(same.statusCode).toBe(409); // Mallory's own earlier use of order-1 had other features
  });

  it('keeps the same caller idempotent, also after its role session was refreshed', async () => {
    const retry = await postAs(aliceLater, { features: golden.features, requestId: 'order-1' });
    expect(retry.statusCode).toBe(200);
    expect(json(retry)).toEqual(alicesAnswer);
    const conflict = await postAs(aliceLater, { features: [7, 3.2, 4.7, 1.4], requestId: 'order-1' });
    expect(conflict.statusCode).toBe(409);
  });

  it("reads a prediction only as its caller: another caller gets the unknown id's 404", async () => {
    const id = String(alicesAnswer.predictionId);
    expect((await getAs(alice, id)).statusCode).toBe(200);
    const foreign = await getAs(mallory, id);
    expect(foreign.statusCode).toBe(404);
    expect(foreign.body).toBe((await getAs(mallory, '00000000-0000-4000-8000-000000000000')).body);
  });

  it('marks the per-caller read as not cacheable by shared caches', async () => {
    const result = await getAs(alice, String(alicesAnswer.predictionId));
    expect(result.headers?.['Cache-Control']).toBe('private, no-store');
  });
});
