import { Sha256 } from '@aws-crypto/sha256-js';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Exchange } from './checks';

/** One request to the API under test. */
export interface ApiRequest {
  readonly method: 'GET' | 'POST';
  /** Path below the API base URL, e.g. `/predict`. */
  readonly path: string;
  readonly body?: string;
}

/** Sends a request and reports status, parsed body and latency; never throws for HTTP errors. */
export type SendRequest = (request: ApiRequest) => Promise<Exchange>;

/** Options of {@link createApiClient}. */
export interface ApiClientOptions {
  readonly apiUrl: string;
  /** Region to sign for; no signing when undefined. */
  readonly signingRegion?: string;
  readonly timeoutMs: number;
  /** @default the default credential chain (environment, profile, container or instance role) */
  readonly credentials?: ConstructorParameters<typeof SignatureV4>[0]['credentials'];
}

type SignableRequest = Parameters<SignatureV4['sign']>[0];

/**
 * `fetch` against the API, SigV4-signed for `execute-api` with the default
 * credential chain (environment, profile, container or instance role) when a
 * signing region is given. A network failure or timeout becomes status 0.
 */
export function createApiClient(options: ApiClientOptions): SendRequest {
  const base = new URL(options.apiUrl.endsWith('/') ? options.apiUrl : `${options.apiUrl}/`);
  const signer = options.signingRegion
    ? new SignatureV4({
        service: 'execute-api',
        region: options.signingRegion,
        credentials: options.credentials ?? fromNodeProviderChain(),
        sha256: Sha256,
      })
    : undefined;

  return async (request) => {
    const url = new URL(request.path.replace(/^\//, ''), base);
    let headers: Record<string, string> = { accept: 'application/json', host: url.host };
    if (request.body !== undefined) headers['content-type'] = 'application/json';
    if (signer) {
      const unsigned: SignableRequest = {
        method: request.method,
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port ? Number(url.port) : undefined,
        path: url.pathname,
        query: {},
        headers,
        body: request.body,
      };
      headers = (await signer.sign(unsigned)).headers;
    }
    // fetch sets Host itself and refuses it as a header; the signature already covers it.
    const sendHeaders = Object.fromEntries(Object.entries(headers).filter(([name]) => name !== 'host'));
    const started = performance.now();
    try {
      const response = await fetch(url, {
        method: request.method,
        headers: sendHeaders,
        body: request.body,
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      const text = await response.text();
      return { status: response.status, body: parseJson(text), latencyMs: performance.now() - started };
    } catch (error) {
      return { status: 0, body: (error as Error).message, latencyMs: performance.now() - started };
    }
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
