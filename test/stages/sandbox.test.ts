import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { sandboxConfig } from '../../lib/stages/sandbox';
import { ConfigError } from '../../lib/stages/stage-config';
import { testConfig } from '../support/cdk-app';

function errorOf(context: Record<string, string>, credentials = {}): ConfigError {
  try {
    sandboxConfig(new App({ context: { sandbox: 'true', ...context } }), testConfig, credentials);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('sandbox configuration errors', () => {
  it('name the -c option a bad value came from, not bin/config.ts', () => {
    const error = errorOf({ sandboxAccount: '123', sandboxAzs: 'us-east-1a' });
    expect(error.problems).toEqual([
      "-c sandboxAccount: '123' is not a 12-digit AWS account id",
      expect.stringMatching(/^-c sandboxAzs: list at least two zones/),
    ]);
    expect(error.message).toMatch(/^Invalid configuration \(fix the -c values of the sandbox/);
  });

  it("name the credentials' account and region when that is where they came from", () => {
    const error = errorOf({}, { account: '12', region: 'moon-base-1' });
    expect(error.problems).toEqual([
      "the credentials' account (CDK_DEFAULT_ACCOUNT; set -c sandboxAccount): '12' is not a 12-digit AWS account id",
      expect.stringMatching(
        /^the credentials' region \(CDK_DEFAULT_REGION; set -c sandboxRegion\): 'moon-base-1'/,
      ),
    ]);
  });

  it('name bin/config.ts dev fields for values that came from there', () => {
    const config = { ...testConfig, dev: { ...testConfig.dev, alarmEmail: 'not-an-address' } };
    const app = new App({ context: { sandbox: 'true' } });
    expect(() => sandboxConfig(app, config)).toThrow(
      /^Invalid configuration \(edit bin\/config\.ts\):\n {2}- dev\.alarmEmail/,
    );
  });
});

describe('bin/app.ts on a configuration mistake', () => {
  it('prints the message once, no stack trace, and exits 1', () => {
    const root = path.join(__dirname, '..', '..');
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'bin/app.ts'], {
      cwd: root,
      encoding: 'utf8',
      env: {
        ...process.env,
        CDK_CONTEXT_JSON: JSON.stringify({ sandbox: 'true', sandboxAccount: '123' }),
        CDK_OUTDIR: path.join(tmpdir(), `app-config-error-${process.pid}`),
      },
    });
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe(
      'Invalid configuration (fix the -c values of the sandbox; dev.* fields are in bin/config.ts):\n' +
        "  - -c sandboxAccount: '123' is not a 12-digit AWS account id",
    );
    expect(result.stdout).toBe('');
  });
});
