import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
const run = (file: string, args: string[]) =>
  spawnSync(process.execPath, [require.resolve('tsx/cli'), join(root, file), ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, BATCH_BUCKET: '', TABLE_NAME: '' },
    timeout: 60_000,
  });

test.each([
  ['bench/batch.ts', /^npm run bench:batch -- \[options\]/],
  ['services/batch/main.ts', /^Batch scorer: loads the model version the stage's registry names active/],
])('%s --help prints usage and exits 0 without running', (file, usage) => {
  const result = run(file, ['--help']);
  expect(result.status).toBe(0);
  expect(result.stdout).toMatch(usage);
});

test.each(['bench/batch.ts', 'services/batch/main.ts'])('%s exits 2 naming an unknown option', (file) => {
  const result = run(file, ['--rowz', '5']);
  expect(result.status).toBe(2);
  expect(result.stderr).toContain('--rowz');
});

test('bench/batch.ts exits 2 on a bad value', () => {
  const result = run('bench/batch.ts', ['--rows', 'many']);
  expect(result.status).toBe(2);
  expect(result.stderr).toContain('--rows must be a positive integer, got many');
});
