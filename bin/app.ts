import { createApp } from '../lib/create-app';
import { config } from './config';

createApp({
  config,
  credentialsTarget: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
}).app.synth();
