import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const SCRIPT = path.join(__dirname, '..', '..', 'scripts', 'run-rollout.sh');
const STATE_MACHINE = 'arn:aws:states:eu-west-1:222222222222:stateMachine:Rollout1234';
const ROLE = 'arn:aws:iam::222222222222:role/mlinference-dev-rollout';

/**
 * A stand-in `aws` CLI: records each call with the access key it ran under, answers assume-role
 * and start-execution, and returns the next status of `statuses` per describe-execution.
 */
const STUB = `#!/usr/bin/env bash
echo "$AWS_ACCESS_KEY_ID|$*" >> "$STUB_DIR/calls"
case "$*" in
  *"sts assume-role"*) printf 'ASIAROLLOUT\\tsecret\\ttoken\\n' ;;
  *start-execution*) echo "arn:aws:states:eu-west-1:222222222222:execution:Rollout1234:run-1" ;;
  *"--query status"*)
    n=$(wc -l < "$STUB_DIR/calls")
    status=$(sed -n "\${n}p" "$STUB_DIR/statuses" 2>/dev/null)
    [ -n "$status" ] || status=$(tail -n 1 "$STUB_DIR/statuses")
    echo "$status" ;;
  *"--query output"*) echo '{"outcome":"promoted","candidateVersion":"v1.1.0"}' ;;
  *"--query [error,cause]"*) printf '%s\\t%s\\n' "\${STUB_ERROR:-CanaryRolledBack}" 'canary 5xx rate "3.1x" baseline at 10 %' ;;
  *) echo "unexpected call: $*" >&2; exit 9 ;;
esac
`;

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly calls: string[];
}

function run(args: string[], statusesByCall: string[], env: Record<string, string> = {}): Run {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'run-rollout-'));
  fs.writeFileSync(path.join(dir, 'aws'), STUB, { mode: 0o755 });
  // Line n of `statuses` answers the describe call that is the n-th call overall.
  fs.writeFileSync(path.join(dir, 'statuses'), statusesByCall.join('\n') + '\n');
  const result = spawnSync('bash', [SCRIPT, ...args], {
    env: {
      ...process.env,
      PATH: `${dir}:${process.env.PATH}`,
      STUB_DIR: dir,
      AWS_ACCESS_KEY_ID: 'PIPELINE',
      ...env,
    },
    encoding: 'utf8',
    timeout: 20_000,
  });
  const calls = fs.existsSync(path.join(dir, 'calls'))
    ? fs.readFileSync(path.join(dir, 'calls'), 'utf8').trim().split('\n')
    : [];
  fs.rmSync(dir, { recursive: true, force: true });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, calls };
}

const ARGS = ['--state-machine-arn', STATE_MACHINE, '--role-arn', ROLE, '--poll-seconds', '1'];

describe('scripts/run-rollout.sh', () => {
  it('assumes the role, starts the rollout with {} and exits 0 once it succeeds', () => {
    // calls: 1 assume, 2 start, 3 describe → RUNNING, 4 describe → SUCCEEDED, 5 output
    const result = run(ARGS, ['', '', 'RUNNING', 'SUCCEEDED']);
    expect(result.status).toBe(0);
    expect(result.calls[0]).toBe(
      `PIPELINE|sts assume-role --role-arn ${ROLE} --role-session-name ${result.calls[0].match(/rollout-\S+/)![0]} --query Credentials.[AccessKeyId,SecretAccessKey,SessionToken] --output text`,
    );
    expect(result.calls[1]).toMatch(
      new RegExp(
        `^ASIAROLLOUT\\|stepfunctions --region eu-west-1 start-execution --state-machine-arn ${STATE_MACHINE} --name \\S+ --input \\{\\}`,
      ),
    );
    // Every Step Functions call runs under the assumed role, in the state machine's region.
    for (const call of result.calls.slice(1))
      expect(call).toMatch(/^ASIAROLLOUT\|stepfunctions --region eu-west-1 /);
    expect(result.stdout).toMatch(/RUNNING after 0m0\ds/);
    expect(result.stdout).toContain('SUCCEEDED');
    expect(result.stdout).toContain('"outcome":"promoted"');
  });

  it('exits non-zero with the error and cause when the rollout rolls back', () => {
    const result = run(ARGS, ['', '', 'RUNNING', 'FAILED']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      'rollout FAILED: CanaryRolledBack: canary 5xx rate "3.1x" baseline at 10 %',
    );
  });

  it.each(['TIMED_OUT', 'ABORTED'])('treats %s as a failed rollout', (status) => {
    const result = run(ARGS, ['', '', status]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`rollout ${status}`);
  });

  describe('--output FILE', () => {
    let dir: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'run-rollout-out-'));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
    const read = (file: string): unknown => JSON.parse(fs.readFileSync(file, 'utf8'));

    it("writes the execution's output (the RolloutRecord) on success, creating the folder", () => {
      const file = path.join(dir, 'reports', 'rollout.json');
      const result = run([...ARGS, '--output', file], ['', '', 'SUCCEEDED']);
      expect(result.status).toBe(0);
      expect(read(file)).toEqual({ outcome: 'promoted', candidateVersion: 'v1.1.0' });
    });

    it.each([
      ['FAILED', 'CanaryRolledBack', 'rolled-back'],
      ['FAILED', 'CanaryRejectedBefore', 'rolled-back'],
      ['FAILED', 'CanaryRollbackIncomplete', 'failed'],
      ['TIMED_OUT', 'States.Timeout', 'failed'],
    ])(
      'writes the outcome of a %s execution with error %s as %s before exiting 1',
      (status, error, outcome) => {
        const file = path.join(dir, 'rollout.json');
        const result = run([...ARGS, '--output', file], ['', '', status], { STUB_ERROR: error });
        expect(result.status).toBe(1);
        expect(read(file)).toEqual({
          outcome,
          status,
          error,
          cause: 'canary 5xx rate "3.1x" baseline at 10 %',
        });
      },
    );
  });

  it('explains itself with --help and rejects a missing state machine ARN', () => {
    const help = run(['--help'], []);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: scripts\/run-rollout.sh --state-machine-arn ARN/);
    const bad = run(['--role-arn', ROLE], []);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--state-machine-arn must be a Step Functions state machine ARN');
    expect(bad.calls).toEqual([]);
  });
});
