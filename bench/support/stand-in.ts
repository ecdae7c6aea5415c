/**
 * Child process of `npm run bench:batch`: runs one local stand-in in its own process (as the real
 * service is remote), prints `{"endpoint": URL}` once it listens, and stops when stdin closes.
 * Argument: `dynamo` (dynalite) or `model` (model server behind the SageMaker-runtime stand-in).
 * When it stops it prints `{"cpuSeconds": N}`, the CPU time of its whole process.
 */
import { startLocalDynamo } from '../../test/batch/support/local-aws';
import { startLocalEndpoint } from '../../test/batch/support/local-endpoint';

async function main(kind: string | undefined): Promise<void> {
  let endpoint: string;
  let close: () => Promise<void>;
  if (kind === 'dynamo') {
    const dynamo = await startLocalDynamo();
    endpoint = dynamo.endpoint;
    close = () => dynamo.close();
  } else if (kind === 'model') {
    const model = await startLocalEndpoint();
    endpoint = model.url;
    close = () => model.close();
  } else {
    throw new Error(`unknown stand-in "${kind}"; use dynamo or model`);
  }
  process.stdout.write(`${JSON.stringify({ endpoint })}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => {
    void close().then(() => {
      const { user, system } = process.cpuUsage();
      process.stdout.write(`${JSON.stringify({ cpuSeconds: (user + system) / 1e6 })}\n`, () =>
        process.exit(0),
      );
    });
  });
}

main(process.argv[2]).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
