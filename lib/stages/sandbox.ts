import type { App } from 'aws-cdk-lib';
import { validateStageConfig, type AppConfig, type DeploymentTarget, type StageConfig } from './stage-config';

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
  const account = context(app, 'sandboxAccount') ?? credentialsTarget.account ?? config.dev.target.account;
  const region = context(app, 'sandboxRegion') ?? credentialsTarget.region ?? config.dev.target.region;
  const zones = context(app, 'sandboxAzs')
    ?.split(',')
    .map((z) => z.trim());
  const availabilityZones =
    zones ??
    (region === config.dev.target.region ? config.dev.availabilityZones : [`${region}a`, `${region}b`]);
  return validateStageConfig('sandbox', {
    ...config.dev,
    stageName: 'sandbox',
    target: { account, region },
    availabilityZones,
  });
}
