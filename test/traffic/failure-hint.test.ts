import { failureHint } from '../../services/traffic/failure-hint';
import { createTrafficHandler, type TrafficHandlerDeps } from '../../services/traffic/handler';

const set = { version: 'v6.0.0', requests: [{ features: [1, 2, 3, 4, 5, 6, 7, 8] }] };
const target = { apiUrl: 'https://api.example/dev', signingRegion: 'eu-west-1' };
const refusal = {
  error: { code: 'InvalidFeatures', message: 'features must have exactly 4 entries; got 8.' },
};

describe('failureHint', () => {
  it("names the API's own refusal and the request set's width for a 4xx, not credentials", () => {
    const hint = failureHint({ 400: { count: 30, example: refusal } }, set, target);
    expect(hint).toBe(
      '30 answered HTTP 400 (InvalidFeatures: features must have exactly 4 entries; got 8.): the API refused ' +
        'the requests themselves; the request set (v6.0.0, 8 features per row) may not fit the models the ' +
        "stage deploys: replay the request set of a deployed version (the CLI's --requests)",
    );
  });

  it('goes by the most frequent status', () => {
    const hint = failureHint(
      { 0: { count: 1, example: 'timeout' }, 403: { count: 29, example: { message: 'Forbidden' } } },
      set,
      target,
    );
    expect(hint).toBe(
      '29 answered HTTP 403: the API refused the caller; check your credentials and the signing region eu-west-1',
    );
  });

  it('names the URL when nothing answered, and the service when it failed', () => {
    expect(failureHint({ 0: { count: 5, example: 'fetch failed' } }, set, target)).toBe(
      '5 answered nothing (fetch failed): check the API URL https://api.example/dev and that the API is up',
    );
    expect(
      failureHint(
        { 503: { count: 5, example: { error: { code: 'ModelUnavailable', message: 'later' } } } },
        set,
        {
          apiUrl: 'http://127.0.0.1:3000',
        },
      ),
    ).toBe(
      "5 answered HTTP 503 (ModelUnavailable: later): the service failed; see the predict function's logs",
    );
  });
});

describe('the traffic Lambda', () => {
  it('logs the hint with the window when no request succeeded, and none when one did', async () => {
    const logged: Record<string, unknown>[] = [];
    let answer = { status: 400, body: refusal };
    const handler = createTrafficHandler({
      config: { mode: 'always', requestsPerSecond: 20 },
      requests: { ...set, source: 'fixture' },
      send: async () => answer,
      organic: { previousMinute: async () => undefined },
      answers: { publish: async () => undefined },
      metrics: {
        addMetric: () => undefined,
        addDimension: () => undefined,
        publishStoredMetrics: () => undefined,
      } as unknown as TrafficHandlerDeps['metrics'],
      log: {
        info: ((_message: string, fields: Record<string, unknown>) =>
          void logged.push(fields)) as unknown as TrafficHandlerDeps['log']['info'],
      },
      target,
    });
    const refused = await handler({ windowSeconds: 0.2 });
    expect(refused).toMatchObject({
      succeeded: 0,
      failures: { 400: { count: refused.sent, example: refusal } },
    });
    expect(logged[0]).toMatchObject({
      hint: expect.stringContaining('(v6.0.0, 8 features per row) may not fit'),
    });
    answer = { status: 200, body: refusal };
    await handler({ windowSeconds: 0.2 });
    expect(logged[1]).not.toHaveProperty('hint');
  });
});
