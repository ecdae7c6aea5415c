import { createApp } from '../lib/create-app';
import { ConfigError } from '../lib/stages/stage-config';
import { ModelVersionsError } from '../services/registry/model-versions';
import { loadConfig } from './config';

try {
  createApp({
    config: loadConfig(),
    credentialsTarget: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  }).app.synth();
} catch (error) {
  // A configuration mistake is the user's to fix: the message names every field, a stack trace adds nothing.
  if (!(error instanceof ConfigError || error instanceof ModelVersionsError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
}
