import { readServerConfig } from './config';
import { jsonLineLogger } from './logger';
import { createModelServer } from './server';

/** Time allowed to finish in-flight requests after SIGTERM (SageMaker waits 30 s before SIGKILL). */
const SHUTDOWN_GRACE_MS = 20_000;

const log = jsonLineLogger(process.stdout);

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function main(args: readonly string[]): Promise<void> {
  if (args.length > 0 && args[0] !== 'serve') {
    log(
      'error',
      `unsupported command "${args.join(' ')}": this image only serves (SageMaker runs it with "serve")`,
    );
    process.exit(2);
  }
  const config = readServerConfig(process.env);
  const server = createModelServer({ ...config, logger: log });

  const shutdown = (signal: string) => {
    log('info', 'shutting down', { signal });
    setTimeout(() => process.exit(1), SHUTDOWN_GRACE_MS).unref();
    server.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log('error', 'shutdown failed', { error: errorText(error) });
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));

  await server.start();
  try {
    await server.loaded();
  } catch (error) {
    log('error', 'model failed to load', { modelDir: config.modelDir, error: errorText(error) });
    await server.stop();
    process.exit(1);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  log('error', 'model server failed to start', { error: errorText(error) });
  process.exit(1);
});
