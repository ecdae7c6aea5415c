/** Region and credentials every local stand-in accepts; nothing here can reach AWS. */
export const localRegion = 'us-east-1';
export const localCredentials = { accessKeyId: 'local', secretAccessKey: 'local' };

/**
 * Sets the SDK's own environment (region, dummy credentials, service endpoint
 * overrides) so that handlers built from `process.env` talk to local servers.
 * Returns a function that restores the previous values.
 */
export function useLocalAwsEnv(overrides: Readonly<Record<string, string>>): () => void {
  const values: Record<string, string> = {
    AWS_REGION: localRegion,
    AWS_ACCESS_KEY_ID: localCredentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: localCredentials.secretAccessKey,
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
    ...overrides,
  };
  const previous = Object.fromEntries(Object.keys(values).map((key) => [key, process.env[key]]));
  Object.assign(process.env, values);
  return () => {
    for (const [key, value] of Object.entries(previous)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
}
