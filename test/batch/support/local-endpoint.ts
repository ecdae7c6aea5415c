import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { FIXTURE_BASELINE } from '../../support/model-fixtures';
import type { ModelVersion } from '../../../services/model/artifacts';
import { startModelEndpoint } from '../../support/model-endpoint';
import { localCredentials, localRegion } from '../../support/local-aws';

/** The endpoint name the stand-in answers to. */
export const LOCAL_ENDPOINT_NAME = 'batch-endpoint';

/** Real model servers (the shipped `model.tar.gz` archives) behind the SageMaker-runtime stand-in, with a client. */
export interface LocalEndpoint {
  readonly url: string;
  readonly client: SageMakerRuntimeClient;
  /** Invocations the stand-in received so far. */
  readonly invocations: () => number;
  close(): Promise<void>;
}

/**
 * Starts one model server per variant (equal weights, chosen in turn, so every variant is hit
 * deterministically) behind the shared stand-in from `test/support/model-endpoint.ts`.
 */
export async function startLocalEndpoint(
  variants: Readonly<Record<string, ModelVersion>> = { VariantA: FIXTURE_BASELINE },
): Promise<LocalEndpoint> {
  const entries = Object.entries(variants);
  let turn = 0;
  const endpoint = await startModelEndpoint({
    endpointName: LOCAL_ENDPOINT_NAME,
    variants: entries.map(([name, version]) => ({ name, weight: 1, version })),
    random: () => ((turn++ % entries.length) + 0.5) / entries.length,
  });
  const client = new SageMakerRuntimeClient({
    endpoint: endpoint.url,
    region: localRegion,
    credentials: localCredentials,
    requestHandler: new NodeHttpHandler({ httpAgent: { keepAlive: true } }),
  });
  return {
    url: endpoint.url,
    client,
    invocations: () => endpoint.standIn.invocations.length,
    async close() {
      client.destroy();
      await endpoint.close();
    },
  };
}
