import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  extractModelArchive,
  loadModelMetadata,
  modelArchivePath,
  type ModelMetadata,
  type ModelVersion,
} from '../../services/model/artifacts';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import {
  createSageMakerEndpoint,
  type ModelEndpoint,
} from '../../services/inference/adapters/sagemaker-endpoint';
import { createModelServer, type ModelServer } from '../../services/model/server';
import { localCredentials, localRegion } from './local-aws';
import { FIXTURE_BASELINE, FIXTURE_CANDIDATE, FIXTURE_MODELS_DIR } from './model-fixtures';
import {
  createSageMakerRuntimeStandIn,
  type SageMakerRuntimeStandIn,
  type SageMakerRuntimeStandInOptions,
} from '../../services/local/sagemaker-runtime';

/** A variant served by a real model server loaded from the committed `model.tar.gz` of `version`. */
export interface LocalVariant {
  readonly name: string;
  readonly weight: number;
  readonly version: ModelVersion;
}

/** A SageMaker-runtime stand-in in front of real ONNX model servers, on loopback. */
export interface LocalModelEndpoint {
  /** For `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` or a client's `endpoint`. */
  readonly url: string;
  readonly endpointName: string;
  readonly standIn: SageMakerRuntimeStandIn;
  readonly metadata: Readonly<Record<string, ModelMetadata>>;
  close(): Promise<void>;
}

/** Options of {@link startModelEndpoint}. */
export interface LocalModelEndpointOptions {
  /** @default VariantA the fixture baseline (weight 80) and VariantB the fixture candidate (weight 20) */
  readonly variants?: readonly LocalVariant[];
  /** Folder of the version folders. @default the fixture versions (test/fixtures/models/versions) */
  readonly modelsDir?: string;
  /** @default 'predict-endpoint' */
  readonly endpointName?: string;
  readonly fault?: SageMakerRuntimeStandInOptions['fault'];
  readonly random?: () => number;
}

/**
 * Starts one model server per variant from the exact archives synth ships
 * (extracted like SageMaker does), and the stand-in routing between them.
 */
export async function startModelEndpoint(
  options: LocalModelEndpointOptions = {},
): Promise<LocalModelEndpoint> {
  const variants = options.variants ?? [
    { name: 'VariantA', weight: 80, version: FIXTURE_BASELINE },
    { name: 'VariantB', weight: 20, version: FIXTURE_CANDIDATE },
  ];
  const modelsDir = options.modelsDir ?? FIXTURE_MODELS_DIR;
  const endpointName = options.endpointName ?? 'predict-endpoint';
  const workDir = await mkdtemp(join(tmpdir(), 'model-endpoint-'));
  const servers: ModelServer[] = [];
  const targets = [];
  for (const variant of variants) {
    const modelDir = join(workDir, variant.name);
    await extractModelArchive(modelArchivePath(variant.version, modelsDir), modelDir);
    const server = createModelServer({ modelDir, port: 0, host: '127.0.0.1' });
    servers.push(server);
    const port = await server.start();
    await server.loaded();
    targets.push({ name: variant.name, weight: variant.weight, url: `http://127.0.0.1:${port}` });
  }
  const standIn = createSageMakerRuntimeStandIn({
    variants: targets,
    endpointName,
    fault: options.fault,
    random: options.random,
  });
  const url = await standIn.listen();
  const metadata = Object.fromEntries(
    variants.map((v) => [v.version, loadModelMetadata(v.version, modelsDir)]),
  );
  return {
    url,
    endpointName,
    standIn,
    metadata,
    async close() {
      await standIn.close();
      await Promise.all(servers.map((server) => server.stop()));
      await rm(workDir, { recursive: true, force: true });
    },
  };
}

/**
 * The real SageMaker endpoint adapter pointed at a loopback port nothing listens on (allocated, then
 * closed), with one attempt: every call fails the way an unreachable endpoint does.
 */
export async function unreachableModelEndpoint(endpointName: string): Promise<ModelEndpoint> {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  return createSageMakerEndpoint({
    client: new SageMakerRuntimeClient({
      endpoint: url,
      region: localRegion,
      credentials: localCredentials,
      maxAttempts: 1,
    }),
    endpointName,
  });
}
