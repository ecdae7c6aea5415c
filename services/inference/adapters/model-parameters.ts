import type { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { UpstreamError } from '../errors';
import { parseInputSchema, type InputSchema } from '../input-schema';

export type { InputSchema } from '../input-schema';

/** Default cache lifetime: a model switch reaches every warm function within a minute. */
export const DEFAULT_PARAMETER_MAX_AGE_SECONDS = 60;

/** Parameter Store's view of the stage's models, read through a cache. */
export interface ModelParameters {
  inputSchema(): Promise<InputSchema>;
}

/** Dependencies of {@link createModelParameters}. */
export interface ModelParametersOptions {
  /** Powertools provider, created once at cold start; its cache lives as long as the execution environment. */
  readonly provider: SSMProvider;
  /** `MODEL_PARAMETER_PREFIX`, e.g. `/ml-inference/dev/model`. */
  readonly prefix: string;
  /** @default 60 */
  readonly maxAgeSeconds?: number;
}

/**
 * Reads `<prefix>/input-schema` (written by the stage from the deployed versions' metadata) through the
 * Powertools cache, so a warm function calls SSM at most once per `maxAge` instead of once per request
 * (SSM's default 40 TPS would throttle the API). SSM failures become a retryable 503; a malformed
 * document is a plain error (500).
 */
export function createModelParameters(options: ModelParametersOptions): ModelParameters {
  const maxAge = options.maxAgeSeconds ?? DEFAULT_PARAMETER_MAX_AGE_SECONDS;
  const name = `${options.prefix}/input-schema`;
  return {
    async inputSchema() {
      let document: unknown;
      try {
        document = await options.provider.get(name, { maxAge, transform: 'json' });
      } catch (error) {
        throw new UpstreamError('unavailable', { cause: error, dependency: 'parameters' });
      }
      return parseInputSchema(name, document);
    },
  };
}
