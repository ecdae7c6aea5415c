import type { APIGatewayProxyEvent } from 'aws-lambda';

/** Options of {@link apiEvent}. */
export interface ApiEventOptions {
  readonly method?: string;
  readonly path?: string;
  readonly body?: string | null;
  readonly headers?: Record<string, string>;
  readonly pathParameters?: Record<string, string> | null;
  readonly isBase64Encoded?: boolean;
  /** The SigV4-authenticated principal. @default arn:aws:iam::000000000000:user/test */
  readonly caller?: string;
}

/** An API Gateway REST proxy event with the fields the handlers read. */
export function apiEvent(options: ApiEventOptions = {}): APIGatewayProxyEvent {
  const method = options.method ?? 'POST';
  const path = options.path ?? '/predict';
  return {
    resource: path,
    path,
    httpMethod: method,
    headers: options.headers ?? { 'Content-Type': 'application/json' },
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: options.pathParameters ?? null,
    stageVariables: null,
    body: options.body === undefined ? null : options.body,
    isBase64Encoded: options.isBase64Encoded ?? false,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      httpMethod: method,
      path,
      protocol: 'HTTP/1.1',
      requestId: 'local-request',
      requestTimeEpoch: Date.now(),
      resourceId: 'local',
      resourcePath: path,
      stage: 'test',
      identity: {
        userArn: options.caller ?? 'arn:aws:iam::000000000000:user/test',
      } as APIGatewayProxyEvent['requestContext']['identity'],
      authorizer: null,
    },
  };
}
