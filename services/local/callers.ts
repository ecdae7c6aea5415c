import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import type { RawRequest } from './api-adapter';

/** An IAM identity the local API knows: requests SigV4-signed with its key act as `arn`. */
export interface LocalCaller {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** What API Gateway would report as `requestContext.identity.userArn` (an assumed-role session). */
  readonly arn: string;
}

/**
 * The local stand-in for the rollout traffic source's role: sign with these credentials and the
 * local API sees the traffic source's session, so the prediction is stored as synthetic.
 */
export const LOCAL_TRAFFIC_CALLER: LocalCaller = Object.freeze({
  accessKeyId: 'LOCALROLLOUTTRAFFIC',
  secretAccessKey: 'local-rollout-traffic-secret',
  arn: 'arn:aws:sts::000000000000:assumed-role/local-rollout-traffic/traffic-source',
});

/** The role whose sessions the local predict handler treats as synthetic. */
export const LOCAL_TRAFFIC_ROLE_ARN = 'arn:aws:iam::000000000000:role/local-rollout-traffic';

/** Who sent a request: unsigned (anonymous), a verified caller, or refused like API Gateway's 403. */
export type CallerCheck =
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'caller'; readonly caller: LocalCaller }
  | { readonly kind: 'refused'; readonly message: string };

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z-]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

/**
 * Verifies a SigV4 `Authorization` header the way API Gateway's IAM authorization does, against the
 * known local callers: the key must be known and the signature must match the request. An unsigned
 * request stays anonymous (the local API also serves `--no-sign` clients).
 */
export async function checkCaller(
  request: RawRequest,
  callers: readonly LocalCaller[],
): Promise<CallerCheck> {
  const header = (name: string): string | undefined => {
    const value = request.headers[name];
    return typeof value === 'string' ? value : value?.[0];
  };
  const authorization = header('authorization');
  if (authorization === undefined) return { kind: 'anonymous' };
  const parsed = AUTHORIZATION.exec(authorization);
  if (!parsed) return { kind: 'refused', message: 'Authorization header is not SigV4' };
  const [, accessKeyId, , region, service, signedHeaders, signature] = parsed;
  const caller = callers.find((c) => c.accessKeyId === accessKeyId);
  if (!caller) return { kind: 'refused', message: 'The security token included in the request is invalid.' };
  const amzDate = header('x-amz-date') ?? '';
  const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!date) return { kind: 'refused', message: 'X-Amz-Date is missing or malformed' };
  const signingDate = new Date(
    Date.UTC(+date[1]!, +date[2]! - 1, +date[3]!, +date[4]!, +date[5]!, +date[6]!),
  );
  if (Math.abs(Date.now() - signingDate.getTime()) > 5 * 60_000) {
    return { kind: 'refused', message: 'Signature expired' };
  }
  const headers = Object.fromEntries(signedHeaders!.split(';').map((name) => [name, header(name) ?? '']));
  const url = new URL(request.url, `http://${header('host') ?? 'local'}`);
  const signer = new SignatureV4({
    service: service!,
    region: region!,
    credentials: { accessKeyId: caller.accessKeyId, secretAccessKey: caller.secretAccessKey },
    sha256: Sha256,
  });
  const signed = await signer.sign(
    {
      method: request.method.toUpperCase(),
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      body: request.body === '' ? undefined : request.body,
    },
    { signingDate },
  );
  const expected = /Signature=([0-9a-f]{64})$/.exec(String(signed.headers.authorization ?? ''))?.[1];
  return expected === signature
    ? { kind: 'caller', caller }
    : {
        kind: 'refused',
        message: 'The request signature we calculated does not match the signature you provided.',
      };
}
