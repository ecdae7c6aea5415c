import { readFile, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import * as path from 'node:path';
import { loadModelMetadata, type ClassificationMetadata } from '../../services/model/artifacts';
import { FIXTURE_MODELS_DIR, type FixtureVersion } from '../support/model-fixtures';
import { LoadedModel, loadModel } from '../../services/model/model';
import { createModelServer, ModelServer } from '../../services/model/server';
import { mulberry32 as seededRandom } from '../../scripts/seeded-random';
import { extractToTemp, removeDirs, request } from './helpers';

const JSON_TYPE = 'application/json';
const MAX_ROWS = 50;
const MAX_BODY_BYTES = 16 * 1024;

interface InvocationAnswer {
  modelVersion: string;
  labels: string[];
  predictions: { label: string; probabilities: number[] }[];
}

const tempDirs: string[] = [];
afterAll(() => removeDirs(tempDirs));

async function startServer(modelDir: string, load?: (dir: string) => Promise<LoadedModel>) {
  const server = createModelServer({
    modelDir,
    port: 0,
    host: '127.0.0.1',
    maxRows: MAX_ROWS,
    maxBodyBytes: MAX_BODY_BYTES,
    loadModel: load,
  });
  const port = await server.start();
  return { server, url: `http://127.0.0.1:${port}` };
}

/** Classifiers as exporters write them: softmax only, int64 label beside, string label beside, binary. */
const classifiers: FixtureVersion[] = ['v2.0.0', 'v2.1.0', 'v5.0.0', 'v3.0.0'];

describe.each(classifiers)('model server with the %s archive', (version) => {
  const metadata = loadModelMetadata(version, FIXTURE_MODELS_DIR) as ClassificationMetadata;
  let server: ModelServer;
  let url: string;

  beforeAll(async () => {
    const dir = await extractToTemp(version);
    tempDirs.push(dir);
    ({ server, url } = await startServer(dir));
    await server.loaded();
  });
  afterAll(() => server.stop());

  const invoke = async (body: unknown) => {
    const answer = await request(`${url}/invocations`, {
      body: JSON.stringify(body),
      contentType: JSON_TYPE,
    });
    expect(answer.status).toBe(200);
    return answer.body as InvocationAnswer;
  };

  it('answers /ping with its version once loaded', async () => {
    const answer = await request(`${url}/ping`);
    expect(answer).toMatchObject({ status: 200, body: { status: 'ok', modelVersion: version } });
  });

  it('scores one row with probabilities that sum to 1', async () => {
    const answer = await invoke(metadata.golden[0].features);
    expect(answer.modelVersion).toBe(version);
    expect(answer.labels).toEqual(metadata.labels);
    expect(answer.predictions).toHaveLength(1);
    const [prediction] = answer.predictions;
    expect(prediction.probabilities).toHaveLength(metadata.labels.length);
    expect(prediction.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    const best = prediction.probabilities.indexOf(Math.max(...prediction.probabilities));
    expect(prediction.label).toBe(metadata.labels[best]);
  });

  it('gives every golden request its label, as a batch and as instances, in order', async () => {
    const rows = metadata.golden.map((g) => g.features);
    const expected = metadata.golden.map((g) => g.label);
    const batch = await invoke(rows);
    const instances = await invoke({ instances: rows });
    expect(batch.predictions.map((p) => p.label)).toEqual(expected);
    expect(instances.predictions).toEqual(batch.predictions);
    expect(new Set(expected)).toEqual(new Set(metadata.labels));
  });

  it('scores a batch of the largest allowed size', async () => {
    const rows = Array.from(
      { length: MAX_ROWS },
      (_, i) => metadata.golden[i % metadata.golden.length].features,
    );
    const answer = await invoke(rows);
    expect(answer.predictions.map((p) => p.label)).toEqual(
      rows.map((_, i) => metadata.golden[i % metadata.golden.length].label),
    );
  });
});

describe('model server with a regressor', () => {
  const metadata = loadModelMetadata('v4.0.0', FIXTURE_MODELS_DIR);
  let server: ModelServer;
  let url: string;

  beforeAll(async () => {
    const dir = await extractToTemp('v4.0.0');
    tempDirs.push(dir);
    ({ server, url } = await startServer(dir));
    await server.loaded();
  });
  afterAll(() => server.stop());

  it('answers each golden row with its value and no labels', async () => {
    const answer = await request(`${url}/invocations`, {
      body: JSON.stringify(metadata.golden.map((g) => g.features)),
      contentType: JSON_TYPE,
    });
    expect(answer).toMatchObject({ status: 200 });
    expect(answer.body).toEqual({
      modelVersion: 'v4.0.0',
      predictions: metadata.golden.map((g) => ({ value: 'value' in g ? g.value : NaN })),
    });
  });

  it('refuses a row of another width naming the expected count', async () => {
    const answer = await request(`${url}/invocations`, { body: '[1, 2, 3, 4]', contentType: JSON_TYPE });
    expect(answer).toMatchObject({
      status: 400,
      body: { error: { message: /the model expects 6 features/ } },
    });
  });
});

describe('model server error answers', () => {
  let server: ModelServer;
  let url: string;
  const row = [5.1, 3.5, 1.4, 0.2];

  beforeAll(async () => {
    const dir = await extractToTemp('v2.0.0');
    tempDirs.push(dir);
    ({ server, url } = await startServer(dir));
    await server.loaded();
  });
  afterAll(() => server.stop());

  const invalid: [string, string, RegExp][] = [
    ['empty body', '', /empty/],
    ['whitespace body', '  \n', /empty/],
    ['not JSON', 'sepal=5.1', /not valid JSON/],
    ['truncated JSON', '[5.1, 3.5,', /not valid JSON/],
    ['NaN literal', '[NaN, 1, 1, 1]', /not valid JSON/],
    [
      'number overflowing to Infinity',
      '[1e999, 3.5, 1.4, 0.2]',
      /feature 0 must be a finite number, got Infinity/,
    ],
    ['float32 overflow', '[3.5e38, 3.5, 1.4, 0.2]', /feature 0 is outside the float32 range/],
    ['negative float32 overflow', '[5.1, -1e39, 1.4, 0.2]', /feature 1 is outside the float32 range/],
    ['string feature', '[5.1, "3.5", 1.4, 0.2]', /feature 1 must be a finite number, got a string/],
    ['null feature', '[5.1, 3.5, null, 0.2]', /feature 2 must be a finite number, got null/],
    ['three features', '[5.1, 3.5, 1.4]', /has 3 values; the model expects 4 features/],
    ['five features', '[5.1, 3.5, 1.4, 0.2, 9]', /has 5 values/],
    ['empty batch', '[]', /Batch is empty/],
    ['empty instances', '{"instances": []}', /Batch is empty/],
    ['empty row', '[[]]', /Row 0 has 0 values/],
    ['ragged batch', '[[5.1, 3.5, 1.4, 0.2], [5.1, 3.5]]', /Row 1 has 2 values/],
    ['scalar in a batch', '[[5.1, 3.5, 1.4, 0.2], 7]', /Row 1 must be an array of numbers, got a number/],
    ['nested row value', '[5.1, [3.5], 1.4, 0.2]', /feature 1 must be a finite number, got an array/],
    ['instances not an array', '{"instances": "x"}', /"instances" must be an array/],
    ['object without instances', '{"features": [5.1, 3.5, 1.4, 0.2]}', /Body must be one row/],
    ['bare number', '42', /Body must be one row/],
    ['JSON null', 'null', /Body must be one row/],
    ['too many rows', JSON.stringify(Array.from({ length: MAX_ROWS + 1 }, () => row)), /51 rows; at most 50/],
    [
      'oversized body',
      JSON.stringify({ instances: [row], padding: 'x'.repeat(MAX_BODY_BYTES) }),
      /exceeds 16384 bytes/,
    ],
  ];

  it.each(invalid)('answers 400 InvalidInput for %s', async (_name, body, message) => {
    const answer = await request(`${url}/invocations`, { body, contentType: JSON_TYPE });
    expect(answer.status).toBe(400);
    expect(answer.headers.get('content-type')).toBe(JSON_TYPE);
    expect(answer.body).toEqual({ error: { code: 'InvalidInput', message: expect.stringMatching(message) } });
  });

  it('answers every edge-case number 200 or 4xx, never 5xx (seeded fuzz)', async () => {
    const random = seededRandom(12);
    const edges = [0, -0, 1e-45, -1e-45, 1e-200, 1e-38, 1, -1, 1e16, 2 ** 53, 1e30, -1e30, 3e38, -3e38];
    const edge = () => edges[Math.floor(random() * edges.length)]!;
    const statuses = new Map<number, number>();
    for (let i = 0; i < 60; i++) {
      const rows = Array.from({ length: 1 + Math.floor(random() * 3) }, () => [
        edge(),
        edge(),
        edge(),
        edge(),
      ]);
      const answer = await request(`${url}/invocations`, {
        body: JSON.stringify(rows),
        contentType: JSON_TYPE,
      });
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      if (answer.status === 422)
        expect(answer.body).toEqual({ error: { code: 'UnscorableInput', message: expect.any(String) } });
    }
    expect([...statuses.keys()].every((status) => status === 200 || status === 422)).toBe(true);
    expect(statuses.get(200)).toBeGreaterThan(0);
  });

  it.each(['text/csv', 'text/plain', 'application/x-www-form-urlencoded'])(
    'answers 415 for Content-Type %s',
    async (contentType) => {
      const answer = await request(`${url}/invocations`, { body: JSON.stringify(row), contentType });
      expect(answer.status).toBe(415);
      expect(answer.body).toEqual({
        error: { code: 'UnsupportedMediaType', message: expect.stringContaining(contentType) },
      });
    },
  );

  it('accepts application/json with a charset', async () => {
    const answer = await request(`${url}/invocations`, {
      body: JSON.stringify(row),
      contentType: 'application/json; charset=utf-8',
    });
    expect(answer.status).toBe(200);
  });

  it('answers 404 for an unknown route and 405 for a wrong method', async () => {
    expect(await request(`${url}/predict`, { body: '[]', contentType: JSON_TYPE })).toMatchObject({
      status: 404,
      body: { error: { code: 'NotFound' } },
    });
    const wrongMethod = await request(`${url}/invocations`);
    expect(wrongMethod).toMatchObject({ status: 405, body: { error: { code: 'MethodNotAllowed' } } });
    expect(wrongMethod.headers.get('allow')).toBe('POST');
  });

  it('answers 400 and closes the connection when a chunked body grows past the limit', async () => {
    const { status, body, connection } = await new Promise<{
      status?: number;
      body: string;
      connection?: string;
    }>((resolve, reject) => {
      const req = httpRequest(`${url}/invocations`, {
        method: 'POST',
        headers: { 'content-type': JSON_TYPE, 'transfer-encoding': 'chunked' },
      });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode, body: text, connection: res.headers.connection }),
        );
      });
      req.on('error', reject);
      req.write('[' + '1,'.repeat(MAX_BODY_BYTES / 2));
      req.write('1]');
      req.end();
    });
    expect({ status, connection }).toEqual({ status: 400, connection: 'close' });
    expect(JSON.parse(body)).toEqual({
      error: { code: 'InvalidInput', message: 'Request body exceeds 16384 bytes' },
    });
  });

  it('still serves after a burst of bad requests', async () => {
    const [golden] = (loadModelMetadata('v2.0.0', FIXTURE_MODELS_DIR) as ClassificationMetadata).golden;
    const answer = await request(`${url}/invocations`, {
      body: JSON.stringify(golden.features),
      contentType: JSON_TYPE,
    });
    expect(answer).toMatchObject({ status: 200, body: { predictions: [{ label: golden.label }] } });
  });
});

describe('model server lifecycle', () => {
  it('answers 503 on /ping and /invocations until the model is loaded, then 200', async () => {
    const dir = await extractToTemp('v2.1.0');
    tempDirs.push(dir);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { server, url } = await startServer(dir, async (modelDir) => {
      await gate;
      return loadModel(modelDir);
    });
    try {
      expect(await request(`${url}/ping`)).toMatchObject({ status: 503, body: { status: 'loading' } });
      expect(
        await request(`${url}/invocations`, { body: '[5.1, 3.5, 1.4, 0.2]', contentType: JSON_TYPE }),
      ).toMatchObject({ status: 503, body: { error: { code: 'ModelNotReady' } } });
      release();
      await expect(server.loaded()).resolves.toMatchObject({ version: 'v2.1.0' });
      expect(await request(`${url}/ping`)).toMatchObject({ status: 200, body: { modelVersion: 'v2.1.0' } });
    } finally {
      await server.stop();
    }
    await expect(fetch(`${url}/ping`)).rejects.toThrow();
  });

  it('fails loudly when metadata.json does not match the ONNX graph, and never reports ready', async () => {
    const dir = await extractToTemp('v2.0.0');
    tempDirs.push(dir);
    const file = path.join(dir, 'metadata.json');
    const metadata = JSON.parse(await readFile(file, 'utf8'));
    await writeFile(file, JSON.stringify({ ...metadata, labels: [...metadata.labels, 'unknown'] }));
    const { server, url } = await startServer(dir);
    try {
      await expect(server.loaded()).rejects.toThrow(
        /Output "probabilities" has shape \[batch, 3\]; metadata.json implies \[N, 4\]/,
      );
      expect((await request(`${url}/ping`)).status).toBe(503);
    } finally {
      await server.stop();
    }
  });

  it('fails loudly on invalid metadata.json', async () => {
    const dir = await extractToTemp('v2.0.0');
    tempDirs.push(dir);
    const file = path.join(dir, 'metadata.json');
    const metadata = JSON.parse(await readFile(file, 'utf8'));
    await writeFile(file, JSON.stringify({ ...metadata, featureCount: 3 }));
    await expect(loadModel(dir)).rejects.toThrow(/metadata.json: featureNames must be an array of 3 items/);
  });
});
