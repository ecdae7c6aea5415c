/**
 * `npm run record-calls`: runs the integration tests with the AWS call recorder in write mode and
 * writes test/iam/recorded-calls.json (component → distinct {action, resourceKind}), printing totals.
 * It always runs every integration test: a subset would record (and commit) a subset of the calls.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseCli } from '../../scripts/cli';
import type { CallKind } from '../support/aws-call-recorder';

/** Test folders whose tests run real handlers, jobs or adapters. */
const INTEGRATION_TESTS = [
  'test/inference',
  'test/stream',
  'test/drift',
  'test/quality',
  'test/analytics-export',
  'test/batch',
  'test/rollout',
  'test/smoke',
  'test/traffic',
  'test/local',
  'test/iam/adapters',
  'test/registry',
];

const USAGE = `Usage: npm run record-calls [-- --help]

Runs every integration test with the AWS call recorder in write mode and
rewrites test/iam/recorded-calls.json, the input of the IAM coverage test, plus
reports/aws-call-counts.json. Leaves both unchanged when a test fails. Run it after changing which
AWS calls the runtime code makes, then review and commit the diff.
  --help  this text

Integration tests: ${INTEGRATION_TESTS.join(' ')}`;

interface Fragment {
  readonly summary: Record<string, CallKind[]>;
  readonly counts: Record<string, number>;
}

function main(): number {
  parseCli(process.argv.slice(2), {
    usage: USAGE,
    flags: {},
  });
  const root = path.join(__dirname, '..', '..');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aws-calls-'));
  const jest = spawnSync(process.execPath, [require.resolve('jest/bin/jest'), ...INTEGRATION_TESTS], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, RECORD_AWS_CALLS: 'write', RECORD_AWS_CALLS_DIR: dir },
  });
  if (jest.status !== 0) {
    process.stderr.write('record-calls: the tests failed; recorded-calls.json left unchanged\n');
    return 1;
  }
  if (fs.readdirSync(dir).length === 0) {
    process.stderr.write('record-calls: the tests recorded no calls; recorded-calls.json left unchanged\n');
    return 1;
  }
  const merged: Record<string, Map<string, CallKind>> = {};
  const counts: Record<string, number> = {};
  for (const file of fs.readdirSync(dir)) {
    const fragment = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as Fragment;
    for (const [component, kinds] of Object.entries(fragment.summary)) {
      for (const kind of kinds) {
        (merged[component] ??= new Map()).set(`${kind.action} ${kind.resourceKind}`, kind);
      }
    }
    for (const [key, count] of Object.entries(fragment.counts)) counts[key] = (counts[key] ?? 0) + count;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  const output = Object.fromEntries(
    Object.keys(merged)
      .sort()
      .map((component) => [
        component,
        [...merged[component]!.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, k]) => k),
      ]),
  );
  fs.writeFileSync(
    path.join(root, 'test', 'iam', 'recorded-calls.json'),
    `${JSON.stringify(output, null, 2)}\n`,
  );
  const distinct = Object.values(output).reduce((n, kinds) => n + kinds.length, 0);
  const total = Object.values(counts).reduce((n, c) => n + c, 0);
  fs.mkdirSync(path.join(root, 'reports'), { recursive: true });
  fs.writeFileSync(
    path.join(root, 'reports', 'aws-call-counts.json'),
    `${JSON.stringify(counts, null, 2)}\n`,
  );
  process.stdout.write(
    `record-calls: ${distinct} distinct calls (${total} in total) from ${Object.keys(output).length} components → test/iam/recorded-calls.json\n`,
  );
  return 0;
}

process.exitCode = main();
