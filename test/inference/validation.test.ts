import { marshall } from '@aws-sdk/util-dynamodb';
import {
  checkFeatureValues,
  validateContentType,
  validateRequest,
} from '../../services/inference/validation';

const limits = { featureCount: 4, maxBodyBytes: 200 };

describe('validateRequest', () => {
  it('accepts exactly featureCount finite numbers and an optional requestId', () => {
    expect(validateRequest('{"features":[5.1,-3.5,0,2e3]}', limits)).toEqual({
      ok: true,
      request: { features: [5.1, -3.5, 0, 2000] },
    });
    expect(
      validateRequest(JSON.stringify({ features: [1, 2, 3, 4], requestId: 'A-z_0.9:x' }), limits),
    ).toEqual({
      ok: true,
      request: { features: [1, 2, 3, 4], requestId: 'A-z_0.9:x' },
    });
  });

  it.each([
    ['{"features":[1,2,3]}', 'InvalidFeatures', 400],
    ['{"features":[1,2,3,"4"]}', 'InvalidFeatures', 400],
    ['{"features":[1,2,3,1e999]}', 'InvalidFeatures', 400],
    ['{"features":[1,2,3,4],"x":1}', 'InvalidRequest', 400],
    ['[1,2,3,4]', 'InvalidRequest', 400],
    ['{"features":', 'InvalidJson', 400],
    ['', 'InvalidRequest', 400],
    [`{"features":[1,2,3,4],"requestId":"${'a'.repeat(129)}"}`, 'InvalidRequestId', 400],
    [
      JSON.stringify({ features: [1, 2, 3, 4], requestId: 'x'.repeat(128), pad: 'y'.repeat(100) }),
      'PayloadTooLarge',
      413,
    ],
  ])('refuses %s with %s', (body, code, status) => {
    const result = validateRequest(body, limits);
    expect(result.ok).toBe(false);
    if (!result.ok) expect([result.error.code, result.error.statusCode]).toEqual([code, status]);
  });

  it('counts the size limit in UTF-8 bytes, not characters', () => {
    const body =
      JSON.stringify({ features: [1, 2, 3, 4], requestId: 'a' }) + ' '.repeat(150) + 'é'.repeat(10);
    expect(body.length).toBeLessThanOrEqual(200);
    expect(validateRequest(body, limits)).toMatchObject({ ok: false, error: { code: 'PayloadTooLarge' } });
  });

  it('accepts a 128-character requestId and the feature count the model declares', () => {
    const body = JSON.stringify({ features: [1, 2], requestId: 'r'.repeat(128) });
    expect(validateRequest(body, { featureCount: 2, maxBodyBytes: 1000 }).ok).toBe(true);
  });
});

describe('validateContentType', () => {
  it('accepts JSON with parameters or no header, refuses other media types with 415', () => {
    expect(validateContentType('application/json; charset=utf-8')).toBeUndefined();
    expect(validateContentType(undefined)).toBeUndefined();
    expect(validateContentType('text/plain')).toMatchObject({
      code: 'UnsupportedMediaType',
      statusCode: 415,
    });
  });
});

describe('checkFeatureValues (the feature-value rule of CONTRACTS.md)', () => {
  it.each([[[0, -0, 1, -1, 5.1, 1e-40, -1e-45, 2 ** 53 - 1, -(2 ** 53 - 1), 1e15]], [[]]])(
    'accepts values the model and the table take: %j',
    (values) => {
      expect(checkFeatureValues(values)).toBeUndefined();
    },
  );

  it.each([
    [[1, Number.NaN], /features\[1\] must be a finite number/],
    [[Number.POSITIVE_INFINITY], /features\[0\] must be a finite number/],
    [[1, 2, '3'], /features\[2\] must be a finite number/],
    [[1e16], /features\[0\] is out of range/],
    [[2 ** 53], /features\[0\] is out of range/],
    [[1, -(2 ** 53)], /features\[1\] is out of range/],
    [[3.5e38], /out of range/],
    [[1e39], /out of range/],
    [[1e-200], /features\[0\] is too small/],
    [[0, 5e-324], /features\[1\] is too small/],
    [[-1e-46], /too small/],
  ])('refuses %j', (values, message) => {
    const problem = checkFeatureValues(values);
    expect(problem).toMatch(message);
    // The message names the index, never the value (it is logged; values are payload).
    const outOfRange = values.filter(
      (v) => typeof v === 'number' && v !== 0 && (Math.abs(v) > 1e10 || Math.abs(v) < 1e-10),
    );
    for (const value of outOfRange) expect(problem).not.toContain(String(value));
  });

  it('accepts exactly what DynamoDB stores and lib-dynamodb marshals, and what float32 holds', () => {
    for (const value of [2 ** 53 - 1, 1e-40, 7.1e-46, -3.4e15]) {
      expect(checkFeatureValues([value])).toBeUndefined();
      expect(Number.isFinite(Math.fround(value)) && Math.fround(value) !== 0).toBe(true);
      expect(() => marshall({ v: value })).not.toThrow();
      expect(Number(String(value))).toBe(value); // round-trips through DynamoDB's decimal text
    }
    expect(() => marshall({ v: 2 ** 53 })).toThrow(/MAX_SAFE_INTEGER/);
  });
});
