import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { LOCAL_TRAFFIC_CALLER } from '../../services/local/callers';
import {
  LOCAL_ENDPOINT_NAME,
  stageVariants,
  startLocalService,
  type LocalService,
} from '../../services/local/service';
import { loadModelMetadata } from '../../services/model/artifacts';
import { createApiClient } from '../../services/smoke/http-client';
import { main as smoke } from '../../services/smoke/main';
import { main as traffic } from '../../services/traffic/main';
import { buildVersions, type BuiltVersions } from '../support/built-versions';

/**
 * Issue 21's user path end to end on loopback: two versions of one model (made by model:add's builder
 * from real exporters' fixtures) on the two variants of `npm start`, then the API, the smoke test and
 * the traffic source take their shape from what is deployed: classifier or regressor, 8 or 6 features.
 */
const cases = [
  {
    name: 'a binary classifier with 8 features',
    baseline: { version: 'v2.0.0', onnx: 'credit-default-a.onnx', csv: 'credit-default.csv' },
    candidate: { version: 'v2.1.0', onnx: 'credit-default-b.onnx', csv: 'credit-default.csv' },
    result: { label: expect.any(String), probabilities: [expect.any(Number), expect.any(Number)] },
  },
  {
    name: 'a regression model',
    baseline: { version: 'v3.0.0', onnx: 'regression.onnx', csv: 'regression.csv' },
    candidate: { version: 'v3.1.0', onnx: 'regression.onnx', csv: 'regression.csv' },
    result: { value: expect.any(Number) },
  },
];

describe.each(cases)('npm start serving $name', ({ baseline, candidate, result }) => {
  let versions: BuiltVersions;
  let service: LocalService;
  let reports: string;
  let featureCount: number;
  const io = () => {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l), env: {} } };
  };

  beforeAll(async () => {
    versions = await buildVersions([baseline, candidate]);
    reports = await mkdtemp(path.join(tmpdir(), 'shape-reports-'));
    featureCount = loadModelMetadata(baseline.version, versions.root).featureCount;
    service = await startLocalService({
      port: 0,
      logLevel: 'SILENT',
      variants: stageVariants(baseline.version, candidate.version),
      modelsRoot: versions.root,
    });
  }, 60_000);

  afterAll(async () => {
    await service?.stop();
    await versions?.remove();
    await rm(reports, { recursive: true, force: true });
  });

  it("answers the task's result for the deployed width, and 400 naming the count for another", async () => {
    const api = createApiClient({ apiUrl: service.url, timeoutMs: 10_000 });
    const post = (features: number[]) =>
      api({ method: 'POST', path: '/predict', body: JSON.stringify({ features }) });
    const ok = await post(new Array<number>(featureCount).fill(0.5));
    expect(ok).toMatchObject({ status: 200, body: { result, modelVersion: baseline.version } });
    const refused = await post([5.1, 3.5, 1.4, 0.2]);
    expect(refused).toMatchObject({
      status: 400,
      body: {
        error: {
          code: 'InvalidFeatures',
          message: `features must have exactly ${featureCount} entries, the input of the deployed models ${baseline.version} and ${candidate.version}; got 4.`,
        },
      },
    });
  });

  it('passes the smoke test, each variant proven directly with its golden rows', async () => {
    const run = io();
    const code = await smoke(
      [
        ...['--api-url', service.url, '--no-sign', '--region', 'us-east-1'],
        ...['--models-dir', versions.root, '--junit', path.join(reports, 'smoke.xml')],
        ...['--variants', `VariantA=${baseline.version},VariantB=${candidate.version}`],
        ...['--endpoint-name', LOCAL_ENDPOINT_NAME, '--runtime-url', service.runtimeUrl],
      ],
      run.io,
    );
    expect(run.err).toEqual([]);
    expect(code).toBe(0);
    expect(run.out.join('\n')).toMatch(
      new RegExp(
        `^✓ variant-VariantB — \\d+ ms — VariantB \\(${candidate.version.replace(/\./g, '\\.')}\\) answered`,
        'm',
      ),
    );
  });

  it("passes the traffic source replaying the candidate's request set", async () => {
    const run = io();
    const code = await traffic(
      [
        ...['--api-url', service.url, '--region', 'us-east-1', '--rate', '10', '--duration-seconds', '0.5'],
        ...['--requests', path.join(versions.root, candidate.version, 'requests.json')],
      ],
      {
        ...run.io,
        credentials: {
          accessKeyId: LOCAL_TRAFFIC_CALLER.accessKeyId,
          secretAccessKey: LOCAL_TRAFFIC_CALLER.secretAccessKey,
        },
      },
    );
    expect(run.err).toEqual([]);
    expect(code).toBe(0);
    expect(run.out.join('\n')).toMatch(/\d+ sent, (\d+) succeeded, 0 failed/);
  });
});
