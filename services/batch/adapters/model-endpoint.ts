import {
  InvokeEndpointCommand,
  ModelError,
  type SageMakerRuntimeClient,
} from '@aws-sdk/client-sagemaker-runtime';

/** One row's answer from the model server. */
export interface ModelPrediction {
  readonly label: string;
  readonly probabilities: number[];
}

/** Answer to one batch: one prediction per row, in row order. */
export interface ScoredBatch {
  readonly modelVersion: string;
  readonly variant: string;
  readonly predictions: ModelPrediction[];
  /** Round trip of the InvokeEndpoint call, in milliseconds. */
  readonly latencyMs?: number;
}

/** The model rejected the request itself (4xx from the container): retrying it unchanged cannot help. */
export class InvalidModelInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidModelInputError';
  }
}

/** Scores batches of feature rows. */
export interface ModelEndpoint {
  score(rows: readonly number[][]): Promise<ScoredBatch>;
}

/** {@link ModelEndpoint} over SageMaker InvokeEndpoint with the model server's `{"instances": [...]}` body. */
export function createSageMakerEndpoint(client: SageMakerRuntimeClient, endpointName: string): ModelEndpoint {
  return {
    async score(rows) {
      let response;
      const started = performance.now();
      try {
        response = await client.send(
          new InvokeEndpointCommand({
            EndpointName: endpointName,
            ContentType: 'application/json',
            Accept: 'application/json',
            Body: new TextEncoder().encode(JSON.stringify({ instances: rows })),
          }),
        );
      } catch (error) {
        const status = error instanceof ModelError ? (error.OriginalStatusCode ?? 0) : 0;
        if (error instanceof ModelError && status >= 400 && status < 500) {
          throw new InvalidModelInputError(error.OriginalMessage ?? error.message);
        }
        throw error;
      }
      const body = JSON.parse(new TextDecoder().decode(response.Body)) as Partial<ScoredBatch>;
      if (typeof body.modelVersion !== 'string' || !Array.isArray(body.predictions)) {
        throw new Error(`endpoint ${endpointName} answered without modelVersion/predictions`);
      }
      if (body.predictions.length !== rows.length) {
        throw new Error(
          `endpoint ${endpointName} answered ${body.predictions.length} predictions for ${rows.length} rows`,
        );
      }
      return {
        modelVersion: body.modelVersion,
        variant: response.InvokedProductionVariant ?? 'unknown',
        predictions: body.predictions,
        latencyMs: performance.now() - started,
      };
    },
  };
}
