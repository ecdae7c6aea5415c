/**
 * Builds the images and runs them as SageMaker and AWS Batch would (test/images, jest):
 *
 *   npm run test:images [-- --no-cache]
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { parseCli } from './cli';
import { buildImages, formatBuilds } from './images';

const USAGE = `Usage: npm run test:images [-- --no-cache]

Builds both images (\`npm run images\`, which starts a container engine and, as root, installs one
when missing), then runs the tests in test/images against them: the model server as SageMaker runs
it (serve, non-root, each model version read-only at /opt/ml/model, /ping, /invocations, SIGTERM)
and the batch scorer with the job definition's command and environment against s3rver and
dynalite. Prints build times, image sizes and the model container's start-to-/ping time. Every
container it starts is removed when it ends.
  --no-cache  rebuild every image layer first
  --help      this text`;

const flags = parseCli(process.argv.slice(2), { usage: USAGE, flags: { 'no-cache': 'boolean' } });
const progress = (line: string) => process.stderr.write(`images: ${line}\n`);

buildImages({ noCache: flags['no-cache'] === true, progress })
  .then((builds) => {
    process.stdout.write(`${formatBuilds(builds)}\n`);
    const root = path.resolve(__dirname, '..');
    const jest = spawnSync(
      process.execPath,
      [require.resolve('jest/bin/jest'), '--config', path.join(root, 'jest.images.config.js')],
      { cwd: root, stdio: 'inherit' },
    );
    process.exitCode = jest.status ?? 1;
  })
  .catch((error: unknown) => {
    process.stderr.write(`test:images: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
