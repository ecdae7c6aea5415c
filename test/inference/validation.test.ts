import { validateContentType, validateRequest } from '../../services/inference/validation';

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
