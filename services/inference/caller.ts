import type { APIGatewayProxyEvent } from 'aws-lambda';
import { DomainError } from './errors';

/**
 * Who sent an API request: the IAM principal API Gateway authenticated with SigV4
 * (`requestContext.identity.userArn`). An assumed-role session ARN
 * (`arn:aws:sts::<account>:assumed-role/<role>/<session>`) is cut to its role
 * (`arn:aws:sts::<account>:assumed-role/<role>`): session names change with every credential
 * refresh, and a retry after one must still be the same caller.
 */
export function callerOf(event: APIGatewayProxyEvent): string {
  const userArn = event.requestContext?.identity?.userArn;
  if (typeof userArn !== 'string' || userArn === '') throw new UnknownCallerError();
  const assumedRole = /^(arn:[^:]+:sts::\d{12}:assumed-role\/[^/]+)\/.+$/.exec(userArn);
  return assumedRole ? assumedRole[1]! : userArn;
}

/**
 * The namespace of a caller's requestIds (CONTRACTS.md "Prediction ids"): `iam:<principal>` for API
 * callers, so one caller's requestId never names another caller's prediction.
 */
export function apiNamespace(caller: string): string {
  return `iam:${caller}`;
}

/** A request without an authenticated principal; with IAM authorization API Gateway never sends one. */
export class UnknownCallerError extends DomainError {
  readonly code = 'UnknownCaller';
  readonly statusCode = 403;
  constructor() {
    super('The request carries no authenticated IAM principal; sign it with SigV4.');
    this.name = 'UnknownCallerError';
  }
}
