import {
  checkContract,
  checkLabels,
  checkLatency,
  checkMalformedRefused,
  checkStoredRecord,
  checkVariantDirect,
  checkVariants,
  expectedLabel,
  formatResult,
  junitXml,
  percentile,
  summaryLine,
  type GoldenByVersion,
  type GoldenExchange,
  type PredictAnswer,
} from '../../services/smoke/checks';
import { parseCommand, parseVariants, regionFromApiUrl } from '../../services/smoke/options';

const golden: GoldenByVersion = {
  'v1.0.0': [
    { features: [1, 2, 3, 4], label: 'setosa' },
    { features: [5, 6, 7, 8], label: 'virginica' },
  ],
  'v1.1.0': [{ features: [1, 2, 3, 4], label: 'versicolor' }],
};
const deployed = { VariantA: 'v1.0.0', VariantB: 'v1.1.0' };

const answer = (overrides: Partial<PredictAnswer> = {}): PredictAnswer => ({
  predictionId: '6f1c2a3e-0000-4000-8000-000000000001',
  result: { label: 'setosa', probabilities: [0.9, 0.05, 0.05] },
  modelVersion: 'v1.0.0',
  variant: 'VariantA',
  ...overrides,
});
const exchange = (body: unknown, features = [1, 2, 3, 4], status = 200, latencyMs = 10): GoldenExchange => ({
  status,
  body,
  features,
  latencyMs,
});

describe('checkContract', () => {
  it('passes answers with predictionId, result, modelVersion and variant', () => {
    expect(checkContract([exchange(answer())]).ok).toBe(true);
  });

  it.each([
    ['a missing variant', { ...answer(), variant: undefined }, /variant/],
    ['probabilities out of range', answer({ result: { label: 'x', probabilities: [1.5] } }), /probabilities/],
    ['a non-object body', 'Internal Server Error', /not a JSON object/],
  ])('fails on %s', (_name, body, detail) => {
    const verdict = checkContract([exchange(body)]);
    expect(verdict.ok).toBe(false);
    expect(verdict.detail).toMatch(detail);
  });

  it('names the status and error code of a failed request', () => {
    const verdict = checkContract([
      exchange(answer()),
      exchange({ error: { code: 'ModelUnavailable', message: 'later' } }, [1, 2, 3, 4], 503),
    ]);
    expect(verdict).toEqual({
      ok: false,
      detail: expect.stringMatching(/1\/2 .*#1 HTTP 503 ModelUnavailable/),
    });
  });

  it('fails when nothing was sent', () => {
    expect(checkContract([]).ok).toBe(false);
  });
});

describe('checkLabels', () => {
  it('judges each answer against the golden set of the version that served it', () => {
    expect(expectedLabel(golden, 'v1.1.0', [1, 2, 3, 4])).toBe('versicolor');
    const verdict = checkLabels(
      [
        exchange(answer()),
        exchange(
          answer({
            modelVersion: 'v1.1.0',
            variant: 'VariantB',
            result: { label: 'versicolor', probabilities: [0, 1, 0] },
          }),
        ),
      ],
      golden,
    );
    expect(verdict).toEqual({ ok: true, detail: expect.stringContaining('2 labels match') });
  });

  it('fails a label that differs from the serving version golden label', () => {
    const wrong = answer({ modelVersion: 'v1.1.0', variant: 'VariantB' });
    const verdict = checkLabels([exchange(wrong)], golden);
    expect(verdict.ok).toBe(false);
    expect(verdict.detail).toMatch(/on v1.1.0: got setosa, expected versicolor/);
  });

  it('does not judge rows the serving version does not list, but needs at least one judged answer', () => {
    const unlisted = answer({ modelVersion: 'v1.1.0', variant: 'VariantB' });
    const mixed = checkLabels([exchange(unlisted, [5, 6, 7, 8]), exchange(answer())], golden);
    expect(mixed.ok).toBe(true);
    expect(mixed.detail).toBe(
      "1 labels match the serving version's golden label (1 not judgeable: the version that answered lists no golden label for those features)",
    );
    expect(checkLabels([exchange(unlisted, [5, 6, 7, 8])], golden).ok).toBe(false);
  });
});

describe('checkVariants', () => {
  it('passes deployed variants serving their model version and counts them', () => {
    const verdict = checkVariants(
      [exchange(answer()), exchange(answer({ variant: 'VariantB', modelVersion: 'v1.1.0' }))],
      deployed,
    );
    expect(verdict).toEqual({ ok: true, detail: 'served by VariantA×1, VariantB×1' });
  });

  it('fails an unknown variant and a variant serving another version', () => {
    expect(checkVariants([exchange(answer({ variant: 'VariantC' }))], deployed).detail).toMatch(
      /unknown variant VariantC/,
    );
    expect(checkVariants([exchange(answer({ variant: 'VariantB' }))], deployed).detail).toMatch(
      /VariantB answered v1.0.0, deployed v1.1.0/,
    );
  });
});

describe('checkMalformedRefused', () => {
  it('passes a 4xx with the error body', () => {
    const verdict = checkMalformedRefused(
      exchange({ error: { code: 'InvalidFeatures', message: 'm' } }, [], 400),
    );
    expect(verdict).toEqual({ ok: true, detail: 'HTTP 400 InvalidFeatures' });
  });

  it.each([
    [200, answer()],
    [500, { error: { code: 'InternalError', message: 'm' } }],
    [400, { message: 'Bad Request' }],
  ])('fails HTTP %d with %j', (status, body) => {
    expect(checkMalformedRefused(exchange(body, [], status)).ok).toBe(false);
  });
});

describe('checkStoredRecord', () => {
  const now = Date.UTC(2026, 10, 25);
  const record = (overrides: Record<string, unknown> = {}) => ({
    predictionId: answer().predictionId,
    modelVersion: 'v1.0.0',
    variant: 'VariantA',
    result: answer().result,
    expirationTime: now / 1000 + 30 * 86_400,
    ...overrides,
  });

  it('passes the stored record with a TTL 30 days ahead', () => {
    expect(checkStoredRecord(exchange(record()), answer(), now)).toEqual({
      ok: true,
      detail: 'record stored, expires in 30.00 days',
    });
  });

  it('fails a wrong TTL, a missing TTL, a different record and a 404', () => {
    expect(
      checkStoredRecord(exchange(record({ expirationTime: now / 1000 + 86_400 })), answer(), now).detail,
    ).toMatch(/1.00 days ahead, expected 30/);
    expect(checkStoredRecord(exchange(record({ expirationTime: undefined })), answer(), now).ok).toBe(false);
    expect(checkStoredRecord(exchange(record({ variant: 'VariantB' })), answer(), now).detail).toMatch(
      /variant/,
    );
    expect(
      checkStoredRecord(exchange({ error: { code: 'NotFound', message: 'm' } }, [], 404), answer(), now).ok,
    ).toBe(false);
  });
});

describe('latency', () => {
  it('uses the nearest-rank p95', () => {
    const samples = Array.from({ length: 20 }, (_, i) => i + 1);
    expect(percentile(samples, 95)).toBe(19);
    expect(percentile([7], 95)).toBe(7);
  });

  it('fails at or over the budget and without samples', () => {
    expect(checkLatency([10, 20, 30], 100).ok).toBe(true);
    expect(checkLatency([10, 20, 300], 100)).toEqual({
      ok: false,
      detail: expect.stringContaining('p95 300 ms'),
    });
    expect(checkLatency([], 100).ok).toBe(false);
  });
});

describe('reporting', () => {
  const results = [
    { name: 'contract', ok: true, durationMs: 120.4, detail: '12 answers' },
    { name: 'stored-record', ok: false, durationMs: 8, detail: 'HTTP 404 <NotFound> & "gone"' },
  ];

  it('prints one line per check with its timing', () => {
    expect(formatResult(results[0]!)).toBe('✓ contract — 120 ms — 12 answers');
    expect(formatResult(results[1]!)).toMatch(/^✗ stored-record — 8 ms — /);
  });

  it('names the failing checks in the summary', () => {
    expect(summaryLine(results, 130)).toBe('Smoke test FAILED: 1/2 checks failed: stored-record');
    expect(summaryLine(results.slice(0, 1), 130)).toBe('Smoke test passed: 1 checks in 130 ms');
  });

  it('writes escaped JUnit XML with a failure element per failed check', () => {
    const xml = junitXml(results, 'smoke', new Date(0));
    expect(xml).toContain('<testsuite name="smoke" tests="2" failures="1" errors="0"');
    expect(xml).toContain('<testcase classname="smoke" name="contract" time="0.120">');
    expect(xml).toContain('<failure message="HTTP 404 &lt;NotFound&gt; &amp; &quot;gone&quot;">');
  });
});

describe('command line', () => {
  it('parses every option', () => {
    const parsed = parseCommand([
      '--api-url',
      'https://abc.execute-api.eu-west-1.amazonaws.com/prod',
      '--latency-budget-ms',
      '500',
      '--junit',
      'out.xml',
      '--variants',
      'VariantA=v1.0.0,VariantB=v1.1.0',
    ]);
    expect(parsed).toEqual({
      kind: 'run',
      options: expect.objectContaining({
        sign: true,
        latencyBudgetMs: 500,
        junitFile: 'out.xml',
        variants: { VariantA: 'v1.0.0', VariantB: 'v1.1.0' },
      }),
    });
  });

  it('answers help and refuses bad arguments with a message', () => {
    expect(parseCommand(['--help'])).toEqual({ kind: 'help' });
    expect(parseCommand([])).toEqual({ kind: 'error', message: '--api-url is required' });
    expect(parseCommand(['--api-url', 'x'])).toMatchObject({ kind: 'error' });
    expect(parseCommand(['--api-url', 'http://h', '--latency-budget-ms', '-1'])).toMatchObject({
      kind: 'error',
    });
    expect(parseCommand(['--api-url', 'http://h', '--bogus'])).toMatchObject({ kind: 'error' });
    expect(parseVariants('VariantA')).toBeUndefined();
  });

  it('reads the signing region from an execute-api URL', () => {
    expect(regionFromApiUrl('https://abc.execute-api.eu-west-1.amazonaws.com/prod')).toBe('eu-west-1');
    expect(regionFromApiUrl('http://127.0.0.1:3000')).toBeUndefined();
  });
});

describe('checkVariantDirect', () => {
  const cases = golden['v1.0.0']!;
  const answered = (body: unknown, invokedVariant = 'VariantA') =>
    ({ ok: true, invokedVariant, body, latencyMs: 5 }) as const;
  const labels = (...names: string[]) => ({
    modelVersion: 'v1.0.0',
    predictions: names.map((label) => ({ label, probabilities: [1, 0, 0] })),
  });

  it('passes when the variant answers its deployed version with every golden label', () => {
    const verdict = checkVariantDirect('VariantA', 'v1.0.0', answered(labels('setosa', 'virginica')), cases);
    expect(verdict).toEqual({ ok: true, detail: 'VariantA (v1.0.0) answered 2 golden labels directly' });
  });

  it.each([
    [
      'the call failed',
      { ok: false, error: 'ModelError: boom', latencyMs: 1 } as const,
      /InvokeEndpoint on VariantA failed: ModelError: boom/,
    ],
    [
      'another variant answered',
      answered(labels('setosa', 'virginica'), 'VariantB'),
      /asked for VariantA, answered by VariantB/,
    ],
    [
      'another version serves it',
      answered({ ...labels('setosa', 'virginica'), modelVersion: 'v1.1.0' }),
      /VariantA serves v1\.1\.0, deployed v1\.0\.0/,
    ],
    [
      'a label is wrong',
      answered(labels('setosa', 'setosa')),
      /1\/2 wrong labels on VariantA: \[5, 6, 7, 8\]: got setosa, expected virginica/,
    ],
    ['a prediction is missing', answered(labels('setosa')), /1 predictions for 2 golden rows/],
  ])('fails when %s', (_name, exchange, message) => {
    const verdict = checkVariantDirect('VariantA', 'v1.0.0', exchange, cases);
    expect(verdict.ok).toBe(false);
    expect(verdict.detail).toMatch(message);
  });
});

describe('smoke options for direct variant checks', () => {
  it('accepts an endpoint name, and a runtime stand-in URL only with it', () => {
    const base = ['--api-url', 'http://127.0.0.1:3000'];
    const run = parseCommand([
      ...base,
      '--endpoint-name',
      'Endpoint-1',
      '--runtime-url',
      'http://127.0.0.1:9',
    ]);
    expect(run).toMatchObject({
      kind: 'run',
      options: { endpointName: 'Endpoint-1', runtimeUrl: 'http://127.0.0.1:9' },
    });
    expect(parseCommand([...base, '--runtime-url', 'http://127.0.0.1:9'])).toEqual({
      kind: 'error',
      message: '--runtime-url needs --endpoint-name',
    });
    expect(parseCommand([...base, '--endpoint-name', 'bad name'])).toMatchObject({ kind: 'error' });
  });
});
