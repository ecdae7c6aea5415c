import { toProxyEvent } from '../../services/local/api-adapter';

const request = (method: string, url: string, body = '') => ({
  method,
  url,
  headers: { 'content-type': 'application/json', 'x-multi': ['a', 'b'] },
  body,
});

describe('toProxyEvent', () => {
  it('maps POST /predict to the predict route with the body and headers', () => {
    const routed = toProxyEvent(request('POST', '/predict', '{"features":[1]}'), 1_000);
    expect(routed?.route).toBe('predict');
    expect(routed?.event).toMatchObject({
      resource: '/predict',
      httpMethod: 'POST',
      body: '{"features":[1]}',
      headers: { 'content-type': 'application/json', 'x-multi': 'a,b' },
      multiValueHeaders: { 'x-multi': ['a', 'b'] },
      pathParameters: null,
      requestContext: { requestTimeEpoch: 1_000, resourcePath: '/predict' },
    });
  });

  it('maps GET /predictions/{id} with the decoded id and query', () => {
    const routed = toProxyEvent(request('GET', '/predictions/abc%20d?x=1&x=2'));
    expect(routed?.route).toBe('getPrediction');
    expect(routed?.event).toMatchObject({
      resource: '/predictions/{id}',
      pathParameters: { id: 'abc d' },
      body: null,
      queryStringParameters: { x: '2' },
      multiValueQueryStringParameters: { x: ['1', '2'] },
    });
  });

  it.each([
    ['GET', '/predict'],
    ['POST', '/predictions/abc'],
    ['GET', '/predictions/a/b'],
    ['GET', '/'],
  ])('has no route for %s %s', (method, url) => {
    expect(toProxyEvent(request(method, url))).toBeUndefined();
  });
});
