import type { App } from 'aws-cdk-lib';
import {
  ConfigError,
  validateStageConfig,
  type AppConfig,
  type DeploymentTarget,
  type StageConfig,
} from './stage-config';

function context(app: App, key: string): string | undefined {
  const value: unknown = app.node.tryGetContext(key);
  return value === undefined || value === null || value === '' ? undefined : String(value);
}

/**
 * The stage to deploy directly when the app runs with `-c sandbox=true`, or undefined for the
 * pipeline. It is the dev configuration, renamed `sandbox`, aimed at `-c sandboxAccount=...
 * -c sandboxRegion=... -c sandboxAzs=a,b` or else at the account and region of the current
 * credentials (which the CLI passes as CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION).
 */
export function sandboxConfig(
  app: App,
  config: AppConfig,
  credentialsTarget: Partial<DeploymentTarget> = {},
): StageConfig | undefined {
  const flag = context(app, 'sandbox');
  if (flag === undefined || flag === 'false') {
    return undefined;
  }
  const fromContext = {
    account: context(app, 'sandboxAccount'),
    region: context(app, 'sandboxRegion'),
    availabilityZones: context(app, 'sandboxAzs'),
  };
  const account = fromContext.account ?? credentialsTarget.account ?? config.dev.target.account;
  const region = fromContext.region ?? credentialsTarget.region ?? config.dev.target.region;
  const zones = fromContext.availabilityZones?.split(',').map((z) => z.trim());
  const availabilityZones =
    zones ??
    (region === config.dev.target.region ? config.dev.availabilityZones : [`${region}a`, `${region}b`]);
  try {
    return validateStageConfig('sandbox', {
      ...config.dev,
      stageName: 'sandbox',
      target: { account, region },
      availabilityZones,
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw blameSources(error, {
      'sandbox.target.account': fromContext.account
        ? '-c sandboxAccount'
        : credentialsTarget.account
          ? "the credentials' account (CDK_DEFAULT_ACCOUNT; set -c sandboxAccount)"
          : undefined,
      'sandbox.target.region': fromContext.region
        ? '-c sandboxRegion'
        : credentialsTarget.region
          ? "the credentials' region (CDK_DEFAULT_REGION; set -c sandboxRegion)"
          : undefined,
      'sandbox.availabilityZones': fromContext.availabilityZones
        ? '-c sandboxAzs'
        : zones === undefined && region !== config.dev.target.region
          ? `the zones derived from the sandbox region ${region} (set -c sandboxAzs)`
          : undefined,
    });
  }
}

/**
 * The problems of a sandbox stage named by where each value came from: a `-c` option or the
 * credentials rather than bin/config.ts, whose dev stage the rest of the sandbox is built from.
 */
function blameSources(
  error: ConfigError,
  sources: Readonly<Record<string, string | undefined>>,
): ConfigError {
  let outside = false;
  const problems = error.problems.map((problem) => {
    const field = Object.keys(sources).find(
      (f) => problem.startsWith(`${f}:`) || problem.startsWith(`${f}[`),
    );
    const source = field && sources[field];
    if (!source) return problem.replace(/^sandbox\./, 'dev.');
    outside = true;
    return `${source}: ${problem.slice(field.length).replace(/^:\s*/, '')}`;
  });
  return new ConfigError(
    problems,
    outside ? 'fix the -c values of the sandbox; dev.* fields are in bin/config.ts' : 'edit bin/config.ts',
  );
}
