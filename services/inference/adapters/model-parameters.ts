import type { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { UpstreamError } from '../errors';

/** Default cache lifetime: a model switch reaches every warm function within a minute. */
export const DEFAULT_PARAMETER_MAX_AGE_SECONDS = 60;

/** The active model's metadata, as validation needs it. */
export interface ActiveModel {
  readonly version: string;
  readonly featureCount: number;
  readonly labels: readonly string[];
}

/** Parameter Store's view of the model, read through a cache. */
export interface ModelParameters {
  activeModel(): Promise<ActiveModel>;
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
 * Reads `<prefix>/active-version` and `<prefix>/versions/<version>` through the
 * Powertools cache, so a warm function calls SSM at most twice per `maxAge`
 * instead of once per request (SSM's default 40 TPS would throttle the API).
 * SSM failures become a retryable 503; malformed metadata is a plain error (500).
 */
export function createModelParameters(options: ModelParametersOptions): ModelParameters {
  const maxAge = options.maxAgeSeconds ?? DEFAULT_PARAMETER_MAX_AGE_SECONDS;
  return {
    async activeModel() {
      let version: string | undefined;
      let metadata: unknown;
      try {
        version = await options.provider.get(`${options.prefix}/active-version`, { maxAge });
        if (version) {
          metadata = await options.provider.get(`${options.prefix}/versions/${version}`, {
            maxAge,
            transform: 'json',
          });
        }
      } catch (error) {
        throw new UpstreamError('unavailable', { cause: error, dependency: 'parameters' });
      }
      if (!version) throw new Error(`${options.prefix}/active-version is empty`);
      return parseMetadata(version.trim(), metadata);
    },
  };
}

function parseMetadata(version: string, metadata: unknown): ActiveModel {
  const record = (typeof metadata === 'object' && metadata !== null ? metadata : {}) as Record<
    string,
    unknown
  >;
  const { featureCount, labels } = record;
  if (typeof featureCount !== 'number' || !Number.isInteger(featureCount) || featureCount < 1) {
    throw new Error(`Model metadata for ${version} has no positive integer featureCount`);
  }
  const labelList = Array.isArray(labels) ? labels.filter((l): l is string => typeof l === 'string') : [];
  return { version, featureCount, labels: labelList };
}
