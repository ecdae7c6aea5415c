import {
  InvokeEndpointCommand,
  SageMakerRuntimeClient,
  type SageMakerRuntimeClientConfig,
} from '@aws-sdk/client-sagemaker-runtime';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import type { VariantExchange } from './checks';

/** Sends golden rows to one production variant, bypassing the weights; never throws. */
export type InvokeVariant = (
  variant: string,
  rows: readonly (readonly number[])[],
) => Promise<VariantExchange>;

/** Options of {@link createVariantInvoker}. */
export interface VariantInvokerOptions {
  readonly endpointName: string;
  readonly region: string;
  /** A SageMaker runtime stand-in (`npm start`); AWS's regional endpoint when absent. */
  readonly endpointUrl?: string;
  /** @default the default credential chain (the assumed smoke-test role in the pipeline) */
  readonly credentials?: SageMakerRuntimeClientConfig['credentials'];
  readonly timeoutMs: number;
}

/**
 * `InvokeEndpoint` with `TargetVariant`: SageMaker routes the request to that variant whatever its
 * weight, so a candidate at 0 % is proven before any user request can reach it. One attempt, no
 * SDK retries: a retry would hide a variant that fails intermittently.
 */
export function createVariantInvoker(options: VariantInvokerOptions): InvokeVariant {
  const client = new SageMakerRuntimeClient({
    region: options.region,
    endpoint: options.endpointUrl,
    credentials: options.credentials ?? fromNodeProviderChain(),
    maxAttempts: 1,
  });
  return async (variant, rows) => {
    const started = performance.now();
    try {
      const output = await client.send(
        new InvokeEndpointCommand({
          EndpointName: options.endpointName,
          TargetVariant: variant,
          ContentType: 'application/json',
          Accept: 'application/json',
          Body: new TextEncoder().encode(JSON.stringify({ instances: rows })),
        }),
        { abortSignal: AbortSignal.timeout(options.timeoutMs) },
      );
      const text = new TextDecoder().decode(output.Body);
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // keep the text: the check reports it
      }
      return {
        ok: true,
        invokedVariant: output.InvokedProductionVariant,
        body,
        latencyMs: performance.now() - started,
      };
    } catch (error) {
      const { name, message } = error as Error;
      return { ok: false, error: `${name}: ${message}`, latencyMs: performance.now() - started };
    }
  };
}
