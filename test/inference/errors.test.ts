import {
  ConflictError,
  NotFoundError,
  toErrorResponse,
  UpstreamError,
  ValidationError,
} from '../../services/inference/errors';

describe('toErrorResponse', () => {
  it('maps domain errors to their status and the {"error":{code,message}} body', () => {
    expect(
      toErrorResponse(new ValidationError('InvalidFeatures', 'features[1] must be a finite number.')),
    ).toEqual({
      statusCode: 400,
      headers: expect.objectContaining({ 'Content-Type': 'application/json' }),
      body: JSON.stringify({
        error: { code: 'InvalidFeatures', message: 'features[1] must be a finite number.' },
      }),
    });
    expect(toErrorResponse(new NotFoundError()).statusCode).toBe(404);
    expect(toErrorResponse(new ConflictError()).statusCode).toBe(409);
  });

  it('answers upstream failures as retryable 503/502 without the cause text', () => {
    const cause = new Error('connect ECONNREFUSED 10.0.3.7:443');
    const unavailable = toErrorResponse(new UpstreamError('unavailable', { cause }));
    expect(unavailable.statusCode).toBe(503);
    expect(unavailable.headers['Retry-After']).toBe('1');
    expect(JSON.parse(unavailable.body).error.code).toBe('ModelUnavailable');
    const modelError = toErrorResponse(new UpstreamError('model-error', { cause }));
    expect([modelError.statusCode, JSON.parse(modelError.body).error.code]).toEqual([502, 'ModelError']);
    const parameters = toErrorResponse(new UpstreamError('unavailable', { cause, dependency: 'parameters' }));
    expect(JSON.parse(parameters.body).error.code).toBe('ConfigurationUnavailable');
    for (const response of [unavailable, modelError, parameters])
      expect(response.body).not.toContain('ECONNREFUSED');
  });

  it('answers anything else with a generic 500 and never the message or stack', () => {
    const error = new TypeError("Cannot read properties of undefined (reading 'Item')");
    const response = toErrorResponse(error);
    expect(response.statusCode).toBe(500);
    expect(JSON.parse(response.body)).toEqual({
      error: { code: 'InternalError', message: 'The request could not be processed.' },
    });
    expect(response.body).not.toMatch(/Item|TypeError|at /);
    expect(toErrorResponse('a string').statusCode).toBe(500);
    expect(toErrorResponse(undefined).statusCode).toBe(500);
  });
});
