/**
 * Recognises synthetic callers (the rollout traffic source, the pipeline's smoke test) by the IAM
 * identity API Gateway authenticated, never by anything in the request: a header or body field can
 * be set by any user, while `requestContext.identity.userArn` is the SigV4 signer's identity as IAM
 * proved it. Those roles are assumable only by the Lambda service (traffic source) and the pipeline
 * account (smoke test), so no user request is marked synthetic and no synthetic one passes as a user's.
 */

/**
 * True when `userArn` (API Gateway's `requestContext.identity.userArn`) is a session of one of the
 * `roleArns` (`arn:<partition>:iam::<account>:role/<name>`), i.e.
 * `arn:<partition>:sts::<account>:assumed-role/<name>/<session>`.
 */
export function isSyntheticCaller(userArn: string | null | undefined, roleArns: readonly string[]): boolean {
  if (!userArn) return false;
  const session = /^arn:([a-z-]+):sts::(\d{12}):assumed-role\/([\w+=,.@-]+)\/[\w+=,.@-]+$/.exec(userArn);
  if (!session) return false;
  const [, partition, account, name] = session;
  return roleArns.includes(`arn:${partition}:iam::${account}:role/${name}`);
}

/** `SYNTHETIC_CALLER_ROLE_ARNS`: comma-separated role ARNs, blanks ignored. */
export function syntheticCallerRoles(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((arn) => arn.trim())
    .filter((arn) => arn !== '');
}
