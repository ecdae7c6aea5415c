import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import type { LogLevel } from '@aws-lambda-powertools/logger/types';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { ModelParameters } from '../inference/adapters/model-parameters';
import type { PredictionItem } from '../inference/prediction';
import { createPredictionStore } from '../inference/adapters/predictions-table';
import { createSageMakerEndpoint } from '../inference/adapters/sagemaker-endpoint';
import { createFeedbackHandler } from '../inference/feedback-handler';
import { createGetPredictionHandler } from '../inference/get-prediction-handler';
import { createPredictHandler } from '../inference/predict-handler';
import { extractModelArchive, loadModelMetadata, modelArchivePath, modelsRoot } from '../model/artifacts';
import type { ModelVersion } from '../model/artifacts';
import { inputSchemaOf } from '../inference/input-schema';
import { createModelServer } from '../model/server';
import { createApiAdapter } from './api-adapter';
import { LOCAL_TRAFFIC_CALLER, LOCAL_TRAFFIC_ROLE_ARN } from './callers';
import { localAws, startLocalPredictionsTable } from './predictions-table';
import { createSageMakerRuntimeStandIn } from './sagemaker-runtime';

/** A production variant of the local endpoint. */
export interface LocalVariant {
  readonly name: string;
  readonly modelVersion: ModelVersion;
  readonly weight: number;
}

/** Variants as the stage deploys them before a rollout: baseline 100 %, the candidate enters at 0 %. */
export function stageVariants(baseline: ModelVersion, candidate: ModelVersion): readonly LocalVariant[] {
  return [
    { name: 'VariantA', modelVersion: baseline, weight: 100 },
    { name: 'VariantB', modelVersion: candidate, weight: 0 },
  ];
}

/** Endpoint name the local SageMaker runtime stand-in serves (smoke `--endpoint-name`). */
export const LOCAL_ENDPOINT_NAME = 'local-endpoint';

/** Options of {@link startLocalService}. */
export interface LocalServiceOptions {
  /** Port of the API; 0 picks a free one. @default 3000 */
  readonly port?: number;
  /** @default 127.0.0.1 */
  readonly host?: string;
  /** What each variant serves, e.g. {@link stageVariants}. */
  readonly variants: readonly LocalVariant[];
  /** Folder of the version folders. @default the repository's models/ */
  readonly modelsRoot?: string;
  /** Handler log level. @default WARN */
  readonly logLevel?: LogLevel;
  /** Progress lines while starting and stopping. @default none */
  readonly log?: (line: string) => void;
  /**
   * Longest wait for one model call (and for connecting to the endpoint) before the predict handler
   * answers 503, like the deployed function's `MODEL_TIMEOUT_MS`. Load tests on a busy machine
   * raise it. @default 5000 (connecting: 1000)
   */
  readonly modelTimeoutMs?: number;
  /** Traffic split randomness, for deterministic tests. @default Math.random */
  readonly random?: () => number;
}

/** A running model server behind one variant. */
export interface LocalModelServer {
  readonly variant: string;
  readonly modelVersion: ModelVersion;
  readonly url: string;
  /** Stops this model server only (the stand-in then answers 503 for its variant). */
  stop(): Promise<void>;
}

/** The running local service. */
export interface LocalService {
  /** Base URL of the API, e.g. `http://127.0.0.1:3000`. */
  readonly url: string;
  /** Base URL of the SageMaker runtime stand-in (smoke `--runtime-url`), serving {@link LOCAL_ENDPOINT_NAME}. */
  readonly runtimeUrl: string;
  readonly modelServers: readonly LocalModelServer[];
  /** Every stored prediction (a Scan of the local table), to see what a run wrote. */
  storedPredictions(): Promise<PredictionItem[]>;
  /** Stops every server and removes the extracted models; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Runs the inference service on loopback with the real predict and get-prediction
 * handlers: dynalite for the table, a real model server per version extracted from
 * its `model.tar.gz`, the SageMaker runtime stand-in splitting traffic by weight,
 * and an HTTP adapter in place of API Gateway. Everything started is stopped again
 * if a later step fails.
 */
export async function startLocalService(options: LocalServiceOptions): Promise<LocalService> {
  const log = options.log ?? (() => undefined);
  const variants = options.variants;
  const cleanups: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    const steps = cleanups.splice(0).reverse();
    for (const step of steps) await step().catch(() => undefined);
  };
  try {
    const modelsDir = await mkdtemp(path.join(tmpdir(), 'ml-inference-local-'));
    cleanups.push(() => rm(modelsDir, { recursive: true, force: true }));

    log('Starting dynalite with the predictions table');
    const table = await startLocalPredictionsTable();
    cleanups.push(() => table.close());

    const modelServers = await Promise.all(
      variants.map((variant) =>
        startModelServer(variant, options.modelsRoot ?? modelsRoot, modelsDir, log, cleanups),
      ),
    );

    const standIn = createSageMakerRuntimeStandIn({
      variants: modelServers.map((server, index) => ({
        name: server.variant,
        weight: variants[index]!.weight,
        url: server.url,
      })),
      random: options.random,
      endpointName: LOCAL_ENDPOINT_NAME,
    });
    const runtimeUrl = await standIn.listen();
    cleanups.push(() => standIn.close());
    log(
      `SageMaker runtime stand-in on ${runtimeUrl}: ${variants.map((v) => `${v.name}=${v.weight}`).join(', ')}`,
    );

    const dynamo = DynamoDBDocumentClient.from(
      new DynamoDBClient({ endpoint: table.endpoint, ...localAws }),
      {
        marshallOptions: { removeUndefinedValues: true },
      },
    );
    const runtime = new SageMakerRuntimeClient({
      endpoint: runtimeUrl,
      ...localAws,
      // One attempt: a retry would land on another variant and hide a broken one.
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler({
        connectionTimeout: options.modelTimeoutMs ?? 1_000,
        requestTimeout: options.modelTimeoutMs ?? 5_000,
      }),
    });
    cleanups.push(async () => {
      dynamo.destroy();
      runtime.destroy();
    });
    const store = createPredictionStore({ client: dynamo, tableName: table.tableName });
    const logLevel = options.logLevel ?? 'WARN';
    const predictFor = (syntheticCallerRoleArns: readonly string[]) =>
      createPredictHandler({
        model: createSageMakerEndpoint({ client: runtime, endpointName: LOCAL_ENDPOINT_NAME }),
        store,
        parameters: inMemoryParameters(
          variants.map((v) => v.modelVersion),
          options.modelsRoot ?? modelsRoot,
        ),
        logger: new Logger({ serviceName: 'predict', logLevel }),
        metrics: quietMetrics('predict'),
        syntheticCallerRoleArns,
      });
    // Only a verified signature makes a request synthetic: the adapter sets `accessKey` for a verified
    // caller alone (as API Gateway's IAM authorization does); an unsigned request's x-local-principal
    // is a claim, so naming the traffic role's session there is stored as `api`.
    const signedPredict = predictFor([LOCAL_TRAFFIC_ROLE_ARN]);
    const unsignedPredict = predictFor([]);
    const api = createApiAdapter(
      {
        predict: (event) =>
          (event.requestContext.identity.accessKey ? signedPredict : unsignedPredict)(event),
        getPrediction: createGetPredictionHandler({
          store,
          logger: new Logger({ serviceName: 'get-prediction', logLevel }),
          metrics: quietMetrics('get-prediction'),
        }),
        feedback: createFeedbackHandler({
          store,
          logger: new Logger({ serviceName: 'feedback', logLevel }),
          metrics: quietMetrics('feedback'),
        }),
      },
      [LOCAL_TRAFFIC_CALLER],
    );
    const host = options.host ?? '127.0.0.1';
    const port = await listen(api, options.port ?? 3000, host);
    cleanups.push(() => closeServer(api));
    const storedPredictions = async (): Promise<PredictionItem[]> => {
      const items: PredictionItem[] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const page = await dynamo.send(
          new ScanCommand({ TableName: table.tableName, ExclusiveStartKey: start }),
        );
        items.push(...((page.Items ?? []) as PredictionItem[]));
        start = page.LastEvaluatedKey;
      } while (start);
      return items;
    };
    return { url: `http://${host}:${port}`, runtimeUrl, modelServers, storedPredictions, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function startModelServer(
  variant: LocalVariant,
  root: string,
  modelsDir: string,
  log: (line: string) => void,
  cleanups: (() => Promise<unknown>)[],
): Promise<LocalModelServer> {
  const modelDir = path.join(modelsDir, variant.modelVersion);
  await extractModelArchive(modelArchivePath(variant.modelVersion, root), modelDir);
  const server = createModelServer({ modelDir, port: 0, host: '127.0.0.1' });
  const port = await server.start();
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= server.stop());
  cleanups.push(stop);
  await server.loaded();
  const url = `http://127.0.0.1:${port}`;
  log(`Model server ${variant.modelVersion} (${variant.name}) on ${url}`);
  return { variant: variant.name, modelVersion: variant.modelVersion, url, stop };
}

/** Parameter Store's `input-schema` of the served versions, from their metadata (as synth writes it). */
function inMemoryParameters(versions: readonly ModelVersion[], root: string): ModelParameters {
  const schema = inputSchemaOf(versions.map((version) => loadModelMetadata(version, root)));
  return { inputSchema: async () => schema };
}

/** EMF lines would flood a terminal; the local run only needs the answers. */
function quietMetrics(serviceName: string): Metrics {
  const previous = process.env.POWERTOOLS_METRICS_DISABLED;
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  try {
    return new Metrics({ serviceName, namespace: 'MlInferenceLocal' });
  } finally {
    if (previous === undefined) delete process.env.POWERTOOLS_METRICS_DISABLED;
    else process.env.POWERTOOLS_METRICS_DISABLED = previous;
  }
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}
