import { readFileSync } from 'node:fs';
import { FUNCTION_RUNTIME } from '../../lib/app/service-function';
import { findRunningEngine, IMAGE_DOCKERFILES, imageNodeMajor } from '../../scripts/container-engine';

/**
 * The container image tests need an engine and run with `npm run test:images` (test/images/*.image-test.ts);
 * `npm test` only checks what it can without one, and says in one line when no engine is there.
 */
if (!findRunningEngine()) {
  process.stdout.write(
    'container image tests skipped: no container engine running (npm run test:images starts one and runs them)\n',
  );
}

describe('container images', () => {
  const functionMajor = Number(/^nodejs(\d+)\.x$/.exec(FUNCTION_RUNTIME.name)?.[1]);

  it('run the Node.js major the Lambda functions run', () => {
    expect(functionMajor).toBeGreaterThanOrEqual(22);
    expect(imageNodeMajor()).toBe(functionMajor);
  });

  it.each(Object.entries(IMAGE_DOCKERFILES))('%s bundles for that major, not an older one', (_, file) => {
    const targets = [...readFileSync(file, 'utf8').matchAll(/--target=node(\d+)/g)].map((m) => Number(m[1]));
    expect(targets.length).toBeGreaterThan(0);
    expect(new Set(targets)).toEqual(new Set([functionMajor]));
  });
});
