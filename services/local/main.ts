import { parseCli } from '../../scripts/cli';
import { loadModelMetadata, unknownVersionProblem } from '../model/artifacts';
import { servedVersions } from './served-versions';
import { LOCAL_ENDPOINT_NAME, stageVariants, startLocalService } from './service';

const USAGE = `Usage: [PORT=3000] npm start [-- --dev | --prod | --baseline vX.Y.Z --candidate vX.Y.Z]

Runs the service locally on http://127.0.0.1:$PORT (default 3000) until Ctrl-C or SIGTERM:
POST /predict and GET /predictions/{id} through the real handlers, the stage's two model versions
served by real model servers behind a SageMaker-runtime stand-in (baseline 100 %, candidate 0 %),
the predictions table in dynalite and the model registry in memory. Prints a curl and a
smoke-test command to try it.

  --dev                  serve what config/model-versions.json says dev deploys (the default)
  --prod                 serve what it says prod deploys
  --baseline vX.Y.Z      serve these folders of models/ instead (both flags together)
  --candidate vX.Y.Z
  --help                 this text`;

const FLAGS = { dev: 'boolean', prod: 'boolean', baseline: 'string', candidate: 'string' } as const;

/** An example request body: the first golden row of the baseline. */
function exampleBody(version: string): string {
  const [golden] = loadModelMetadata(version).golden;
  return JSON.stringify({ features: golden?.features ?? [] });
}

/** `npm start`: the service on http://127.0.0.1:${PORT:-3000} until Ctrl-C or SIGTERM. */
async function main(): Promise<void> {
  const values = parseCli(process.argv.slice(2), { usage: USAGE, flags: FLAGS });
  let versions: [string, string];
  try {
    versions = servedVersions(values);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}\n`);
    process.exit(2);
  }
  for (const version of versions) {
    const problem = unknownVersionProblem(version);
    if (problem) throw new Error(problem);
  }
  const started = performance.now();
  const port = Number(process.env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new Error(`PORT must be a port number: ${process.env.PORT}`);
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const service = await startLocalService({ port, log: say, variants: stageVariants(...versions) });
  say(`Listening on ${service.url} (ready in ${Math.round(performance.now() - started)} ms)`);
  say(
    `Try: curl -s -X POST ${service.url}/predict -H 'Content-Type: application/json' -d '${exampleBody(versions[0])}'`,
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
