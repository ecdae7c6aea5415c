import { SSMClient } from '@aws-sdk/client-ssm';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import type { AppConfig } from '../../lib/stages/stage-config';
import type { StageKey } from './model-versions';
import { registryReaderRoleName } from './names';

/** Where one stage's registry lives and who may read it. */
export interface StageRegistry {
  readonly stage: StageKey;
  /** `/<project>/<stage>/model`. */
  readonly prefix: string;
  readonly account: string;
  readonly region: string;
  /** ARN of the stage's registry reader role. */
  readonly readerRoleArn: string;
}

/** The registry of `stage` as the app config places it (the same prefix the stage deploys). */
export function stageRegistry(config: AppConfig, stage: StageKey): StageRegistry {
  const { stageName, target } = config[stage];
  return {
    stage,
    prefix: `/${config.project}/${stageName}/model`,
    account: target.account,
    region: target.region,
    readerRoleArn: `arn:aws:iam::${target.account}:role/${registryReaderRoleName(config.project, stageName)}`,
  };
}

/** An SSM client for the stage's region, with the caller's credentials or an assumed role's. */
export function registryClient(registry: StageRegistry, roleArn?: string): SSMClient {
  return new SSMClient({
    region: registry.region,
    ...(roleArn
      ? {
          credentials: fromTemporaryCredentials({
            params: { RoleArn: roleArn, RoleSessionName: `registry-${registry.stage}` },
            clientConfig: { region: registry.region },
          }),
        }
      : {}),
  });
}

/**
 * A message for a registry read that failed, saying what the command needs: credentials for the
 * stage account, or the right to read the registry.
 */
export function explainReadFailure(error: unknown, registry: StageRegistry, command: string): string {
  const name = (error as { name?: string }).name ?? '';
  const message = (error as Error).message ?? String(error);
  const needs =
    `${command} reads ${registry.prefix}/* in account ${registry.account} (${registry.region}). ` +
    `Run it with credentials of that account (AWS_PROFILE=... or AWS_ACCESS_KEY_ID/...) that may call ` +
    `ssm:GetParameter there, or add --role-arn ${registry.readerRoleArn} (the stage's registry reader role, ` +
    `assumable from the pipeline account).`;
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(message)) {
    return `No AWS credentials found. ${needs}`;
  }
  if (
    /AccessDenied|UnrecognizedClient|InvalidClientTokenId|ExpiredToken|not authorized/i.test(
      `${name} ${message}`,
    )
  ) {
    return `The registry refused the credentials (${name}: ${message}). ${needs}`;
  }
  return `Reading the registry failed (${name || 'Error'}: ${message}). ${needs}`;
}
