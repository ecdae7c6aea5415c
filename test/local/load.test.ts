import { Agent, request } from 'node:http';
import { mulberry32 } from '../../scripts/seeded-random';
import { LOCAL_PRINCIPAL_HEADER } from '../../services/local/api-adapter';
import { FIXTURE_LOCAL_SERVICE } from '../support/model-fixtures';
import { startLocalService, type LocalService } from '../../services/local/service';

/**
 * The issue 12 load test, bounded and on loopback: the local service (real handlers, real model
 * servers, dynalite) under 2,000 POST /predict at 50 concurrent, from three callers that reuse and
 * conflict on each other's and their own requestIds, then a GET of every prediction that was answered.
 */
const TOTAL = 2_000;
const CONCURRENCY = 50;
const callers = [
  'arn:aws:sts::111111111111:assumed-role/Alice/s1',
  'arn:aws:iam::222222222222:user/bob',
  'arn:aws:sts::333333333333:assumed-role/Carol/s9',
];
const featureSets = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.0, 5.2, 2.3],
  [5.9, 3.0, 4.2, 1.5],
];

interface Sent {
  readonly caller: string;
  readonly requestId?: string;
  readonly features: readonly number[];
}
interface Answer {
  readonly status: number;
  readonly body: string;
}

let service: LocalService;
const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function call(method: string, path: string, caller: string, body?: string): Promise<Answer> {
  const url = new URL(path, service.url);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent,
        headers: {
          'content-type': 'application/json',
          [LOCAL_PRINCIPAL_HEADER]: caller,
          ...(body === undefined ? {} : { 'content-length': Buffer.byteLength(body) }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** 2,000 requests: a third without requestId, the rest over 60 requestIds shared by the callers. */
function workload(): Sent[] {
  const random = mulberry32(2026);
  const pick = <T>(values: readonly T[]) => values[Math.floor(random() * values.length)]!;
  return Array.from({ length: TOTAL }, (): Sent => {
    const caller = pick(callers);
    const features = pick(featureSets);
    if (random() < 1 / 3) return { caller, features };
    return { caller, features, requestId: `order-${Math.floor(random() * 60)}` };
  });
}

describe('local service under load (2,000 requests, 50 concurrent)', () => {
  const sent = workload();
  const answers: Answer[] = [];
  let maxInFlight = 0;

  beforeAll(async () => {
    // The suite shares two cores with synth-heavy files: the test is about consistency under
    // concurrency, so a starved model call must not turn into the 503 a real timeout would be.
    service = await startLocalService({
      port: 0,
      logLevel: 'SILENT',
      modelTimeoutMs: 60_000,
      ...FIXTURE_LOCAL_SERVICE,
    });
    let next = 0;
    let inFlight = 0;
    const worker = async () => {
      while (next < sent.length) {
        const index = next++;
        const { caller, requestId, features } = sent[index]!;
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const body = JSON.stringify(requestId === undefined ? { features } : { features, requestId });
        answers[index] = await call('POST', '/predict', caller, body).finally(() => inFlight--);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  }, 300_000);

  afterAll(async () => {
    agent.destroy();
    await service?.stop();
  });

  it(`sends ${TOTAL} requests with ${CONCURRENCY} in flight, repeated and conflicting requestIds among them`, () => {
    expect(answers.filter(Boolean)).toHaveLength(TOTAL);
    expect(maxInFlight).toBe(CONCURRENCY);
    const keyed = sent.filter((s) => s.requestId !== undefined);
    const perKey = new Map<string, Set<string>>();
    for (const s of keyed) {
      const key = `${s.caller} ${s.requestId}`;
      perKey.set(key, (perKey.get(key) ?? new Set()).add(JSON.stringify(s.features)));
    }
    expect([...perKey.values()].filter((features) => features.size > 1).length).toBeGreaterThan(20);
  });

  it('answers no 5xx, only 200 and (for a conflicting reuse by the same caller) 409', () => {
    const statuses = new Map<number, number>();
    for (const answer of answers) statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
    expect(answers.filter((a) => a.status >= 500).map((a) => `${a.status} ${a.body}`)).toEqual([]);
    expect([...statuses.keys()].sort()).toEqual([200, 409]);
  });

  it('gives one answer per caller and requestId, for its first features, and 409 only to other features', () => {
    const winners = new Map<string, { body: string; features: string }>();
    const inconsistent: string[] = [];
    sent.forEach((s, index) => {
      const answer = answers[index]!;
      if (s.requestId === undefined || answer.status !== 200) return;
      const key = `${s.caller} ${s.requestId}`;
      const winner = winners.get(key);
      if (!winner) winners.set(key, { body: answer.body, features: JSON.stringify(s.features) });
      else if (winner.body !== answer.body || winner.features !== JSON.stringify(s.features))
        inconsistent.push(key);
    });
    sent.forEach((s, index) => {
      if (answers[index]!.status !== 409) return;
      const winner = winners.get(`${s.caller} ${s.requestId}`);
      if (winner && winner.features === JSON.stringify(s.features)) inconsistent.push(`409 ${s.requestId}`);
    });
    expect(inconsistent).toEqual([]);
    // The same requestId from other callers is their own prediction.
    const ids = new Map<string, Set<string>>();
    for (const [key, { body }] of winners) {
      const requestId = key.split(' ')[1]!;
      ids.set(requestId, (ids.get(requestId) ?? new Set()).add(JSON.parse(body).predictionId as string));
    }
    const shared = [...winners.keys()].map((key) => key.split(' ')[1]!);
    for (const requestId of new Set(shared)) {
      expect(ids.get(requestId)!.size).toBe(shared.filter((r) => r === requestId).length);
    }
  });

  it('lets its caller read back every 2xx prediction, with the answered result, and no one else', async () => {
    const ok = sent
      .map((s, index) => ({ s, answer: JSON.parse(answers[index]!.body) as Record<string, unknown> }))
      .filter((_, index) => answers[index]!.status === 200);
    const unique = [...new Map(ok.map((o) => [o.answer.predictionId as string, o])).values()];
    const mismatches: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < unique.length) {
        const { s, answer } = unique[next++]!;
        const id = answer.predictionId as string;
        const read = await call('GET', `/predictions/${id}`, s.caller);
        const item = read.status === 200 ? (JSON.parse(read.body) as Record<string, unknown>) : undefined;
        if (
          !item ||
          JSON.stringify(item.result) !== JSON.stringify(answer.result) ||
          item.variant !== answer.variant ||
          JSON.stringify(item.features) !== JSON.stringify(s.features)
        )
          mismatches.push(`${read.status} ${id}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    expect(mismatches).toEqual([]);
    const other = callers.find((c) => c !== unique[0]!.s.caller)!;
    expect((await call('GET', `/predictions/${unique[0]!.answer.predictionId}`, other)).status).toBe(404);
  }, 180_000);
});
