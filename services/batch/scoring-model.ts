import { RequestError } from '../model/validation';
import type { LoadedModel } from '../model/model';

/** One row's answer: a class with its probabilities (classification) or a number (regression). */
export type ModelPrediction =
  { readonly label: string; readonly probabilities: number[] } | { readonly value: number };

/** The model rejected the rows themselves (e.g. an output that is not finite): retrying them unchanged cannot help. */
export class InvalidModelInputError extends Error {
  override readonly name = 'InvalidModelInputError';
}

/** The model the scorer runs in its own process. */
export interface ScoringModel {
  /** Version recorded on every prediction. */
  readonly version: string;
  /** Features per row the model takes. */
  readonly featureCount: number;
  /** One prediction per row, in order; throws {@link InvalidModelInputError} for rows it cannot score. */
  predict(rows: readonly (readonly number[])[]): Promise<readonly ModelPrediction[]>;
}

/** A model loaded by the model server's own `loadModel`, as the scorer uses it. */
export function scoringModel(loaded: LoadedModel): ScoringModel {
  return {
    version: loaded.metadata.version,
    featureCount: loaded.metadata.featureCount,
    async predict(rows) {
      try {
        return await loaded.predict(rows);
      } catch (error) {
        if (error instanceof RequestError) throw new InvalidModelInputError(error.message);
        throw error;
      }
    },
  };
}
