/** Where the container finds its model and which port it answers on. */
export interface ServerConfig {
  readonly port: number;
  readonly modelDir: string;
}

/** SageMaker's inference-container defaults. */
export const defaultServerConfig: ServerConfig = { port: 8080, modelDir: '/opt/ml/model' };

/**
 * Reads `PORT` and `MODEL_DIR`, falling back to SageMaker's defaults.
 * @throws Error when `PORT` is not an integer from 0 to 65535.
 */
export function readServerConfig(env: Readonly<Record<string, string | undefined>>): ServerConfig {
  const port = env.PORT?.trim() ? Number(env.PORT) : defaultServerConfig.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`PORT must be an integer from 0 to 65535, got "${env.PORT}"`);
  }
  return { port, modelDir: env.MODEL_DIR?.trim() || defaultServerConfig.modelDir };
}
