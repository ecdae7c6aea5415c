import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  installAwsCallRecorder,
  recordedCalls,
  summarize,
  unrecordedCalls,
  type CallKind,
} from '../support/aws-call-recorder';

/**
 * Records the AWS calls of the runtime code in every test file (test/support/aws-call-recorder.ts).
 * `RECORD_AWS_CALLS=write` (npm run record-calls) saves them for test/iam/recorded-calls.json;
 * otherwise a call the committed file does not list fails the test file, so a new call is recorded
 * and proven by test/iam before it ships.
 */
const root = path.join(__dirname, '..', '..');
const committedFile = path.join(root, 'test', 'iam', 'recorded-calls.json');

installAwsCallRecorder(root);

afterAll(() => {
  if (recordedCalls.length === 0) return;
  const summary = summarize(recordedCalls);
  if (process.env.RECORD_AWS_CALLS === 'write') {
    const dir = process.env.RECORD_AWS_CALLS_DIR;
    if (!dir) throw new Error('RECORD_AWS_CALLS_DIR must be set with RECORD_AWS_CALLS=write');
    const testPath = expect.getState().testPath ?? 'unknown';
    const name = createHash('sha256').update(testPath).digest('hex').slice(0, 16);
    const counts: Record<string, number> = {};
    for (const call of recordedCalls) {
      const key = `${call.component} ${call.service}:${call.action} ${call.resourceKind}`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(
      path.join(dir, `${name}.json`),
      JSON.stringify({ testPath: path.relative(root, testPath), summary, counts }, null, 2),
    );
    return;
  }
  const committed = fs.existsSync(committedFile)
    ? (JSON.parse(fs.readFileSync(committedFile, 'utf8')) as Record<string, CallKind[]>)
    : {};
  const missing = unrecordedCalls(summary, committed);
  if (missing.length > 0) {
    throw new Error(
      `AWS calls not in test/iam/recorded-calls.json (run \`npm run record-calls\`, then make test/iam pass):\n  ${missing.join('\n  ')}`,
    );
  }
});
