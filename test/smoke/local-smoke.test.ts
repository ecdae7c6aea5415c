import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { startLocalService, type LocalService } from '../../services/local/service';
import { main } from '../../services/smoke/main';

let service: LocalService;
let reports: string;
// Every fifth request lands on VariantB (weights 80/20), so both variants serve golden requests.
const split = [0.1, 0.3, 0.5, 0.7, 0.9];
let draw = 0;

const smoke = async (junit: string) => {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['--api-url', service.url, '--no-sign', '--junit', path.join(reports, junit)], {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    env: {},
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
};

beforeAll(async () => {
  reports = await mkdtemp(path.join(tmpdir(), 'smoke-reports-'));
  service = await startLocalService({
    port: 0,
    logLevel: 'SILENT',
    random: () => split[draw++ % split.length]!,
  });
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
      'contract',
      'golden-labels',
      'variants',
      'malformed-request',
      'stored-record',
      'latency-p95',
    ]) {
      expect(run.out).toMatch(new RegExp(`^✓ ${check} — \\d+ ms — `, 'm'));
    }
    expect(run.out).toMatch(/served by VariantA×\d+, VariantB×\d+/);
    const xml = await readFile(path.join(reports, 'healthy.xml'), 'utf8');
    expect(xml).toContain('tests="6" failures="0"');
  });

  it('answers 404 with the error body for a route the API does not have', async () => {
    const response = await fetch(`${service.url}/nope`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: { code: 'NotFound', message: expect.any(String) } });
  });

  it('fails, naming the contract check, once the VariantB model server is down', async () => {
    await service.modelServers.find((server) => server.variant === 'VariantB')!.stop();
    const run = await smoke('broken.xml');
    expect(run.code).toBe(1);
    expect(run.out).toMatch(/^✗ contract — .*HTTP 503 ModelUnavailable/m);
    expect(run.err).toMatch(/Smoke test FAILED: .*checks failed: contract/);
    const xml = await readFile(path.join(reports, 'broken.xml'), 'utf8');
    expect(xml).toMatch(/<testcase classname="smoke" name="contract"[^>]*>\s*<failure/);
  });
});
