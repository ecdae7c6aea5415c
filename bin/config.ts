import type { AppConfig } from '../lib/stages/stage-config';
import {
  endpointVersions,
  readModelVersions,
  type ModelVersionsFile,
} from '../services/registry/model-versions';

/**
 * The one file a user edits after forking: accounts, regions, zones and the source repository.
 *
 * The values below are placeholders that let `npm run synth` run out of the box. Before the first
 * `cdk deploy`, replace:
 *   - `pipeline`, `dev.target`, `prod.target`: your tooling, dev and prod accounts (three accounts is
 *     the recommended layout; dev and prod may not share an account *and* region);
 *   - `availabilityZones`: zones of each stage's region (`aws ec2 describe-availability-zones`);
 *   - `source`: your fork and a CodeConnections connection to GitHub in the pipeline account;
 *   - `approvals`: the IAM roles or users (pipeline account) who may approve prod, and who is e-mailed.
 */
export function appConfig(modelVersions: ModelVersionsFile): AppConfig {
  return {
    project: 'mlinference',
    pipeline: { account: '111111111111', region: 'us-east-1' },
    source: {
      repository: 'your-org/ml-inference-gitops',
      branch: 'main',
      connectionArn:
        'arn:aws:codeconnections:us-east-1:111111111111:connection/00000000-0000-0000-0000-000000000000',
    },
    dev: {
      stageName: 'dev',
      target: { account: '222222222222', region: 'us-east-1' },
      availabilityZones: ['us-east-1a', 'us-east-1b'],
      retainData: false,
      logRetentionDays: 365,
      logLevel: 'DEBUG',
      dataRetentionDays: 30,
      costCenter: 'ml-platform',
      endpoint: endpointVersions(modelVersions.dev),
    },
    prod: {
      stageName: 'prod',
      target: { account: '333333333333', region: 'us-east-1' },
      availabilityZones: ['us-east-1a', 'us-east-1b', 'us-east-1c'],
      retainData: true,
      logRetentionDays: 365,
      logLevel: 'INFO',
      dataRetentionDays: 400,
      costCenter: 'ml-platform',
      endpoint: endpointVersions(modelVersions.prod),
    },
    approvals: {
      approvers: ['arn:aws:iam::111111111111:role/ReleaseApprover'],
      emails: [],
    },
  };
}

/**
 * The app's configuration with the versions `config/model-versions.json` names (data, so `npm run
 * converge` can rewrite it after a rollout decides; docs/ROLLOUT.md). Read when called, not on import.
 */
export function loadConfig(): AppConfig {
  return appConfig(readModelVersions());
}
