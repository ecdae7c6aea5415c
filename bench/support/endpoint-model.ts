/**
 * The batch scorer's former model path, kept for `npm run bench:batch` only: the rows of each batch
 * sent to the model server through SageMaker InvokeEndpoint (`{"instances": [...]}`), so the bench can
 * report the in-process path beside it. The product scorer never calls an endpoint.
 */
import {
  InvokeEndpointCommand,
  ModelError,
  type SageMakerRuntimeClient,
} from '@aws-sdk/client-sagemaker-runtime';
import {
  InvalidModelInputError,
  type ModelPrediction,
  type ScoringModel,
} from '../../services/batch/scoring-model';

/** {@link ScoringModel} over InvokeEndpoint; `version` and `featureCount` are what the server serves. */
export function endpointModel(
  client: SageMakerRuntimeClient,
  endpointName: string,
  served: { readonly version: string; readonly featureCount: number },
): ScoringModel {
  return {
    ...served,
    async predict(rows) {
      let response;
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
      const body = JSON.parse(new TextDecoder().decode(response.Body)) as { predictions?: ModelPrediction[] };
      if (!Array.isArray(body.predictions) || body.predictions.length !== rows.length) {
        throw new Error(`endpoint ${endpointName} answered no prediction per row`);
      }
      return body.predictions;
    },
  };
}
