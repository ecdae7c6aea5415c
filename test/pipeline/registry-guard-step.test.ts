import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { guardCommand } from '../../lib/pipeline/registry-guard-step';

/**
 * The guard step's shell, run by POSIX sh as CodeBuild runs it, with `aws` and `npm` replaced by
 * scripts that log their arguments: the first pipeline run (no stage yet), a deployed stage, and a
 * deployed stage whose role cannot be assumed.
 */
function runScript(options: {
  assume: 'ok' | 'denied' | 'empty' | 'none';
  /** What list-action-executions does: answer that the stage was (not) deployed, or fail. */
  deployedBefore: boolean | 'error';
  guardExit?: number;
  initiator?: string;
}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'guard-step-'));
  const log = path.join(dir, 'calls.log');
  const script = (name: string, body: string) => {
    const file = path.join(dir, name);
    writeFileSync(file, `#!/bin/sh\necho "${name} $*" >> "${log}"\n${body}\n`);
    chmodSync(file, 0o755);
  };
  script(
    'aws',
    [
      'case "$1 $2" in',
      `  "sts assume-role") ${
        {
          ok: 'printf "AKIA\\tsecret\\ttoken\\n"',
          denied: 'echo "AccessDenied" >&2; exit 254',
          empty: 'true',
          none: 'printf "None\\tNone\\tNone\\n"',
        }[options.assume]
      } ;;`,
      `  "codepipeline list-action-executions") ${
        options.deployedBefore === 'error'
          ? 'echo "An error occurred (ThrottlingException): Rate exceeded" >&2; exit 254'
          : options.deployedBefore
            ? 'echo Operations.Deploy'
            : 'true'
      } ;;`,
      'esac',
    ].join('\n'),
  );
  script('npm', `echo "AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID" >> "${log}"\nexit ${options.guardExit ?? 0}`);
  const result = spawnSync('sh', ['-c', guardCommand('prod', 'Prod')], {
    env: {
      PATH: `${dir}:/usr/bin:/bin`,
      REGISTRY_ROLE_ARN: 'arn:aws:iam::333333333333:role/mlinference-prod-registry-reader',
      CODEBUILD_INITIATOR: options.initiator ?? 'codepipeline/MlInferencePipeline-Pipeline-ABC',
      CODEBUILD_BUILD_NUMBER: '7',
    },
    encoding: 'utf8',
  });
  return {
    status: result.status,
    stderr: result.stderr,
    calls: readFileSync(log, 'utf8').trim().split('\n'),
  };
}

describe('registry guard step shell', () => {
  it('runs the guard with the assumed role credentials when the role can be assumed', () => {
    const { status, calls } = runScript({ assume: 'ok', deployedBefore: true });
    expect(status).toBe(0);
    expect(calls).toEqual([
      expect.stringMatching(
        /^aws sts assume-role --role-arn arn:aws:iam::333333333333:role\/mlinference-prod-registry-reader /,
      ),
      'npm run guard -- --stage prod --report reports/guard.json',
      'AWS_ACCESS_KEY_ID=AKIA',
    ]);
  });

  it('fails the step when the guard fails', () => {
    expect(runScript({ assume: 'ok', deployedBefore: true, guardExit: 1 }).status).toBe(1);
  });

  it('on the first pipeline run (role missing, stage never deployed) records that and passes', () => {
    const { status, calls } = runScript({ assume: 'denied', deployedBefore: false });
    expect(status).toBe(0);
    expect(calls[1]).toBe(
      'aws codepipeline list-action-executions --pipeline-name MlInferencePipeline-Pipeline-ABC ' +
        "--query actionExecutionDetails[?stageName=='Prod' && status=='Succeeded' && input.actionTypeId.provider=='CloudFormation'].actionName --output text",
    );
    expect(calls[2]).toBe('npm run guard -- --stage prod --report reports/guard.json --not-deployed');
  });

  it('fails when the role cannot be assumed although the pipeline deployed the stage before', () => {
    const { status, stderr, calls } = runScript({ assume: 'denied', deployedBefore: true });
    expect(status).toBe(1);
    expect(stderr).toContain("deployed Prod before: check the role's trust policy");
    expect(calls.some((c) => c.startsWith('npm'))).toBe(false);
  });

  // Fails closed: each way of not knowing fails the step, names what failed, and never runs the guard.
  it.each<[string, Parameters<typeof runScript>[0], string]>([
    [
      'list-action-executions errors after assume-role failed',
      { assume: 'denied', deployedBefore: 'error' },
      'aws codepipeline list-action-executions of MlInferencePipeline-Pipeline-ABC failed',
    ],
    [
      'assume-role succeeds with empty output',
      { assume: 'empty', deployedBefore: false },
      'aws sts assume-role of arn:aws:iam::333333333333:role/mlinference-prod-registry-reader succeeded but returned no credentials',
    ],
    [
      'assume-role answers None',
      { assume: 'none', deployedBefore: false },
      'succeeded but returned no credentials',
    ],
    [
      'no pipeline name to read the history of',
      { assume: 'denied', deployedBefore: false, initiator: '' },
      "CODEBUILD_INITIATOR ('') names no pipeline",
    ],
    [
      'a build not started by a pipeline',
      { assume: 'denied', deployedBefore: false, initiator: 'user/admin' },
      "CODEBUILD_INITIATOR ('user/admin') names no pipeline",
    ],
  ])('fails when %s', (_, options, message) => {
    const { status, stderr, calls } = runScript(options);
    expect(status).toBe(1);
    expect(stderr).toContain(`guard: FAIL: `);
    expect(stderr).toContain(message);
    expect(calls.some((c) => c.startsWith('npm'))).toBe(false);
  });
});
