import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { LOCAL_ENDPOINT_NAME, startLocalService, type LocalService } from '../../services/local/service';
import { main } from '../../services/smoke/main';
import {
  FIXTURE_BASELINE,
  FIXTURE_CANDIDATE,
  FIXTURE_LOCAL_SERVICE,
  FIXTURE_MODELS_DIR,
} from '../support/model-fixtures';

let service: LocalService;
let reports: string;
/** Only the two deployed versions' folders: the smoke test replays golden rows of the folders it is given. */
let deployedModels: string;

const smoke = async (junit: string) => {
  const out: string[] = [];
  const err: string[] = [];
  const args = ['--api-url', service.url, '--no-sign', '--junit', path.join(reports, junit)];
  const direct = ['--endpoint-name', LOCAL_ENDPOINT_NAME, '--runtime-url', service.runtimeUrl];
  const models = [
    '--models-dir',
    deployedModels,
    '--variants',
    `VariantA=${FIXTURE_BASELINE},VariantB=${FIXTURE_CANDIDATE}`,
  ];
  const code = await main([...args, ...direct, ...models, '--region', 'us-east-1'], {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    env: {},
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
};

beforeAll(async () => {
  reports = await mkdtemp(path.join(tmpdir(), 'smoke-reports-'));
  deployedModels = path.join(reports, 'models');
  for (const version of [FIXTURE_BASELINE, FIXTURE_CANDIDATE]) {
    await cp(path.join(FIXTURE_MODELS_DIR, version), path.join(deployedModels, version), { recursive: true });
  }
  // As deployed before a rollout: VariantA 100 %, the candidate VariantB at 0 %.
  service = await startLocalService({ port: 0, logLevel: 'SILENT', ...FIXTURE_LOCAL_SERVICE });
});

afterAll(async () => {
  await service.stop();
  await rm(reports, { recursive: true, force: true });
});

describe('smoke CLI against npm start', () => {
  it('passes every check against the healthy local service', async () => {
    const run = await smoke('healthy.xml');
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    for (const check of [
      'variant-VariantA',
      'variant-VariantB',
      'contract',
      'golden-labels',
      'variants',
      'malformed-request',
      'stored-record',
      'latency-p95',
    ]) {
      expect(run.out).toMatch(new RegExp(`^✓ ${check} — \\d+ ms — `, 'm'));
    }
    // The candidate at 0 % gets no request through the API, yet it was proven directly.
    expect(run.out).toMatch(/^✓ variants — \d+ ms — served by VariantA×\d+$/m);
    expect(run.out).toMatch(
      /^✓ variant-VariantB — \d+ ms — VariantB \(v2\.1\.0\) answered \d+ golden rows directly/m,
    );
    const xml = await readFile(path.join(reports, 'healthy.xml'), 'utf8');
    expect(xml).toContain('tests="11" failures="0"');
  });

  it('answers 404 with the error body for a route the API does not have', async () => {
    const response = await fetch(`${service.url}/nope`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: { code: 'NotFound', message: expect.any(String) } });
  });

  it('fails on the candidate at 0 % when its model server is down, though every API request passes', async () => {
    await service.modelServers.find((server) => server.variant === 'VariantB')!.stop();
    const run = await smoke('broken.xml');
    expect(run.code).toBe(1);
    expect(run.out).toMatch(/^✗ variant-VariantB — .*InvokeEndpoint on VariantB failed/m);
    expect(run.out).toMatch(/^✓ contract — /m);
    // The truth checks need the candidate's answers too, so they fail with it.
    expect(run.err).toMatch(
      /Smoke test FAILED: 3\/11 checks failed: variant-VariantB, truth-VariantB, truth-accuracy \(JUnit/m,
    );
    const xml = await readFile(path.join(reports, 'broken.xml'), 'utf8');
    expect(xml).toMatch(/<testcase classname="smoke" name="variant-VariantB"[^>]*>\s*<failure/);
  });

  it('fails the API checks once the baseline serving users is down', async () => {
    await service.modelServers.find((server) => server.variant === 'VariantA')!.stop();
    const run = await smoke('baseline-down.xml');
    expect(run.code).toBe(1);
    expect(run.out).toMatch(/^✗ variant-VariantA — /m);
    expect(run.out).toMatch(/^✗ contract — .*HTTP 503 ModelUnavailable/m);
  });
});
