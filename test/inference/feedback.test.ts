import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { mayGiveFeedback, parseFeedback } from '../../services/inference/feedback';
import type { PredictionItem } from '../../services/inference/prediction';
import { LOCAL_PRINCIPAL_HEADER } from '../../services/local/api-adapter';
import { stageVariants, startLocalService, type LocalService } from '../../services/local/service';
import { writeFixturePackage } from '../support/quality-models';

const OWNER = 'arn:aws:iam::000000000000:user/owner';
const OTHER = 'arn:aws:iam::000000000000:user/other';

const item = (overrides: Partial<PredictionItem> = {}): PredictionItem => ({
  predictionId: '00000000-0000-4000-8000-000000000000',
  timestamp: '2026-12-07T00:00:00.000Z',
  modelVersion: 'v1.0.0',
  invokedVariant: 'VariantA',
  prediction: { label: 'alpha', probabilities: [1, 0, 0] },
  inputFeatures: [0.1, 0.2],
  expirationTime: 0,
  source: 'api',
  caller: OWNER,
  ...overrides,
});

describe('feedback rules', () => {
  it('is accepted only from the caller that made an API prediction', () => {
    expect(mayGiveFeedback(item(), OWNER)).toBe(true);
    expect(mayGiveFeedback(item(), OTHER)).toBe(false);
    expect(mayGiveFeedback(item({ source: 'stream', caller: undefined }), OWNER)).toBe(false);
    expect(mayGiveFeedback(item({ source: 'synthetic' }), OWNER)).toBe(false);
  });

  it('takes a label for a classification and refuses anything else', () => {
    const now = new Date('2026-12-07T01:00:00Z');
    expect(parseFeedback({ label: 'beta' }, item(), now)).toEqual({
      label: 'beta',
      receivedAt: now.toISOString(),
    });
    expect(() => parseFeedback({ value: 1 }, item(), now)).toThrow(/Send \{"label"/);
    expect(() => parseFeedback({ label: 'beta', extra: 1 }, item(), now)).toThrow(/Send \{"label"/);
    expect(() => parseFeedback({ label: '' }, item(), now)).toThrow(/label must be a string/);
    expect(() => parseFeedback([], item(), now)).toThrow(/JSON object/);
  });
});

describe('POST /predictions/{id}/feedback on npm start', () => {
  let modelsDir: string;
  let service: LocalService;

  beforeAll(async () => {
    modelsDir = await mkdtemp(path.join(tmpdir(), 'feedback-models-'));
    await writeFixturePackage(modelsDir, { version: 'v1.0.0' });
    service = await startLocalService({
      port: 0,
      logLevel: 'SILENT',
      modelsRoot: modelsDir,
      variants: stageVariants('v1.0.0', 'v1.0.0'),
    });
  }, 60_000);
  afterAll(async () => {
    await service?.stop();
    await rm(modelsDir, { recursive: true, force: true });
  });

  const call = async (method: string, route: string, principal: string, body?: unknown) => {
    const response = await fetch(`${service.url}${route}`, {
      method,
      headers: { 'content-type': 'application/json', [LOCAL_PRINCIPAL_HEADER]: principal },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it("refuses feedback on another caller's prediction exactly like a missing one, and stores the owner's", async () => {
    const predicted = await call('POST', '/predict', OWNER, { features: [0.1, 0.5] });
    expect(predicted.status).toBe(200);
    const id = predicted.body.predictionId as string;

    const refused = await call('POST', `/predictions/${id}/feedback`, OTHER, { label: 'beta' });
    const missing = await call('POST', '/predictions/00000000-0000-4000-8000-000000000000/feedback', OTHER, {
      label: 'beta',
    });
    expect(refused).toEqual(missing);
    expect(refused.status).toBe(404);
    expect((await service.storedPredictions()).find((p) => p.predictionId === id)?.feedback).toBeUndefined();

    const bad = await call('POST', `/predictions/${id}/feedback`, OWNER, { value: 3 });
    expect(bad).toMatchObject({ status: 400, body: { error: { code: 'InvalidFeedback' } } });

    const accepted = await call('POST', `/predictions/${id}/feedback`, OWNER, { label: 'beta' });
    expect(accepted).toMatchObject({
      status: 200,
      body: { predictionId: id, modelVersion: 'v1.0.0', feedback: { label: 'beta' } },
    });
    const stored = (await service.storedPredictions()).find((p) => p.predictionId === id);
    expect(stored?.feedback).toMatchObject({ label: 'beta' });
    expect(stored?.prediction).toMatchObject({ label: 'alpha' });
  }, 30_000);
});
