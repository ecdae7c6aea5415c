import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { createModelServer, type ModelServer } from '../../../services/model/server';
import { modelArtifactDir, type ModelVersion } from '../../../services/model/artifacts';
import { createSageMakerRuntimeStandIn, type InjectedFault } from '../../../services/local/sagemaker-runtime';

/** The endpoint name the stand-in answers to. */
export const LOCAL_ENDPOINT_NAME = 'local-endpoint';

/** Real model servers (ONNX, `models/<version>`) behind the SageMaker-runtime stand-in. */
export interface LocalEndpoint {
  readonly url: string;
  readonly client: SageMakerRuntimeClient;
  /** Invocations the stand-in received so far. */
  readonly invocations: () => number;
  close(): Promise<void>;
}

/** Options of {@link startLocalEndpoint}. */
export interface LocalEndpointOptions {
  /** Variant name → model version served; @default VariantA → v1.0.0 */
  readonly variants?: Readonly<Record<string, ModelVersion>>;
  /** Variant choice per invocation; @default alternates between variants */
  readonly random?: () => number;
  readonly fault?: () => InjectedFault | undefined;
}

/** Starts one model server per variant and the stand-in in front of them, all on loopback. */
export async function startLocalEndpoint(options: LocalEndpointOptions = {}): Promise<LocalEndpoint> {
  const variants: [string, ModelVersion][] = Object.entries(options.variants ?? { VariantA: 'v1.0.0' });
  const servers: ModelServer[] = variants.map(([, version]) =>
    createModelServer({ modelDir: modelArtifactDir(version), port: 0, host: '127.0.0.1' }),
  );
  const ports = await Promise.all(servers.map((s) => s.start()));
  await Promise.all(servers.map((s) => s.loaded()));
  let turn = 0;
  const standIn = createSageMakerRuntimeStandIn({
    endpointName: LOCAL_ENDPOINT_NAME,
    variants: variants.map(([name], i) => ({ name, weight: 1, url: `http://127.0.0.1:${ports[i]}` })),
    random: options.random ?? (() => ((turn++ % variants.length) + 0.5) / variants.length),
    fault: options.fault,
  });
  const url = await standIn.listen();
  const client = new SageMakerRuntimeClient({
    endpoint: url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    requestHandler: new NodeHttpHandler({ httpAgent: { keepAlive: true } }),
  });
  return {
    url,
    client,
    invocations: () => standIn.invocations.length,
    async close() {
      client.destroy();
      await standIn.close();
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
}
