import { parseCli } from '../../scripts/cli';
import { LOCAL_ENDPOINT_NAME, startLocalService } from './service';

const USAGE = `Usage: [PORT=3000] npm start [-- --help]

Runs the service locally on http://127.0.0.1:$PORT (default 3000) until Ctrl-C or SIGTERM:
POST /predict and GET /predictions/{id} through the real handlers, both model versions served by
real model servers behind a SageMaker-runtime stand-in, the predictions table in dynalite and the
model registry in memory. Prints a curl and a smoke-test command to try it.
  --help  this text`;

/** `npm start`: the service on http://127.0.0.1:${PORT:-3000} until Ctrl-C or SIGTERM. */
async function main(): Promise<void> {
  parseCli(process.argv.slice(2), { usage: USAGE, flags: {} });
  const started = performance.now();
  const port = Number(process.env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new Error(`PORT must be a port number: ${process.env.PORT}`);
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const service = await startLocalService({ port, log: say });
  say(`Listening on ${service.url} (ready in ${Math.round(performance.now() - started)} ms)`);
  say(
    `Try: curl -s -X POST ${service.url}/predict -H 'Content-Type: application/json' -d '{"features":[5.1,3.5,1.4,0.2]}'`,
  );
  say(
    `     npm run smoke -- --api-url ${service.url} --no-sign --endpoint-name ${LOCAL_ENDPOINT_NAME} --runtime-url ${service.runtimeUrl} --region us-east-1`,
  );
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    say(`${signal}: stopping`);
    service.stop().then(
      () => {
        say('Stopped');
        process.exit(0);
      },
      (error: unknown) => {
        process.stderr.write(`Stop failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  const hint = /EADDRINUSE/.test(message) ? ' (set PORT to use another port)' : '';
  process.stderr.write(`Local service failed to start: ${message}${hint}\n`);
  process.exit(1);
});
