import { LOCAL_PRINCIPAL_HEADER } from '../../services/local/api-adapter';
import { LOCAL_TRAFFIC_CALLER } from '../../services/local/callers';
import { startLocalService, type LocalService } from '../../services/local/service';
import { createApiClient } from '../../services/smoke/http-client';
import { main } from '../../services/traffic/main';

let service: LocalService;

beforeAll(async () => {
  service = await startLocalService({ port: 0, logLevel: 'SILENT' });
  // Warm the handlers and model servers, so the first window measures pacing, not cold starts.
  const warm = createApiClient({ apiUrl: service.url, timeoutMs: 10_000 });
  for (let i = 0; i < 3; i += 1) {
    await warm({
      method: 'POST',
      path: '/predict',
      body: JSON.stringify({ features: [5.1, 3.5, 1.4, 0.2] }),
    });
  }
});

afterAll(async () => {
  await service.stop();
});

const credentials = {
  accessKeyId: LOCAL_TRAFFIC_CALLER.accessKeyId,
  secretAccessKey: LOCAL_TRAFFIC_CALLER.secretAccessKey,
};

async function traffic(args: string[], signal?: AbortSignal) {
  const out: string[] = [];
  const err: string[] = [];
  const started = performance.now();
  const code = await main(['--api-url', service.url, '--region', 'us-east-1', ...args], {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    env: {},
    signal,
    credentials,
  });
  return { code, out: out.join('\n'), err: err.join('\n'), wallMs: performance.now() - started };
}

async function syntheticCount(): Promise<{ synthetic: number; other: number }> {
  const items = await service.storedPredictions();
  const synthetic = items.filter((item) => item.source === 'synthetic').length;
  return { synthetic, other: items.length - synthetic };
}

describe('traffic source against npm start', () => {
  it('sends signed requests at the configured rate until its bound, all stored as synthetic', async () => {
    const before = await syntheticCount();
    const run = await traffic(['--rate', '10', '--duration-seconds', '2']);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    // 10/s over a 2 s window: 20 requests. On a loaded machine the last ones may miss the window,
    // and the bound wins: never more than 20, never after the window.
    const [, stoppedBy, sent, succeeded] =
      /stopped \((done|bound)\): (\d+) sent, (\d+) succeeded, 0 failed/.exec(run.out)!;
    expect(['done', 'bound']).toContain(stoppedBy);
    expect(Number(sent)).toBeGreaterThanOrEqual(15);
    expect(Number(sent)).toBeLessThanOrEqual(20);
    expect(succeeded).toBe(sent);
    // Paced over its window (the 20th request leaves at 1.9 s), and not much longer.
    expect(run.wallMs).toBeGreaterThan(1_850);
    expect(run.wallMs).toBeLessThan(5_000);
    const after = await syntheticCount();
    expect(after.synthetic - before.synthetic).toBe(Number(sent));
    expect(after.other).toBe(before.other);
  });

  it('stops when told, well before its bound', async () => {
    const before = await syntheticCount();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 500);
    const run = await traffic(['--rate', '10', '--duration-seconds', '60'], controller.signal);
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/Traffic source stopped \(told\)/);
    expect(run.wallMs).toBeLessThan(3_000);
    const sent = Number(/: (\d+) sent/.exec(run.out)?.[1]);
    expect(sent).toBeGreaterThanOrEqual(2);
    expect(sent).toBeLessThanOrEqual(8);
    expect((await syntheticCount()).synthetic - before.synthetic).toBe(sent);
  });

  it('marks by verified identity only: a user request stays api, a forged signature is refused', async () => {
    const user = createApiClient({ apiUrl: service.url, timeoutMs: 5_000 });
    const body = JSON.stringify({ features: [5.1, 3.5, 1.4, 0.2] });
    const plain = await user({ method: 'POST', path: '/predict', body });
    expect(plain.status).toBe(200);
    const id = (plain.body as { predictionId: string }).predictionId;
    const stored = await service.storedPredictions();
    expect(stored.find((item) => item.predictionId === id)?.source).toBe('api');

    const forged = createApiClient({
      apiUrl: service.url,
      signingRegion: 'us-east-1',
      timeoutMs: 5_000,
      credentials: { accessKeyId: LOCAL_TRAFFIC_CALLER.accessKeyId, secretAccessKey: 'guessed' },
    });
    const refused = await forged({ method: 'POST', path: '/predict', body });
    expect(refused.status).toBe(403);
  });

  it("stores an unsigned request naming the traffic role's session in x-local-principal as api", async () => {
    const answer = await fetch(new URL('/predict', service.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', [LOCAL_PRINCIPAL_HEADER]: LOCAL_TRAFFIC_CALLER.arn },
      body: JSON.stringify({ features: [5.1, 3.5, 1.4, 0.2] }),
    });
    expect(answer.status).toBe(200);
    const { predictionId } = (await answer.json()) as { predictionId: string };
    const stored = (await service.storedPredictions()).find((item) => item.predictionId === predictionId);
    expect(stored?.source).toBe('api');
  });

  it('refuses a rate above the cap with exit 2 and the limit', async () => {
    const run = await traffic(['--rate', '50']);
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/--rate must be more than 0 and at most 20/);
  });
});
