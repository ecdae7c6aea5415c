import { App } from 'aws-cdk-lib';
import { addComplianceChecks } from '../lib/compliance';
import { PipelineStack } from '../lib/pipeline/pipeline-stack';
import { MlInferenceStage } from '../lib/stages/ml-inference-stage';
import { validateConfig } from '../lib/stages/stage-config';
import { config as userConfig } from './config';
import { sandboxConfig } from './sandbox';

const app = new App();
const config = validateConfig(userConfig);
addComplianceChecks(app);

// `-c sandbox=true` deploys one stage straight into the current credentials' account, no pipeline.
const sandbox = sandboxConfig(app, config);
if (sandbox) {
  new MlInferenceStage(app, 'Sandbox', { project: config.project, config: sandbox });
} else {
  new PipelineStack(app, 'MlInferencePipeline', {
    env: { account: config.pipeline.account, region: config.pipeline.region },
    config,
    description: 'GitOps delivery pipeline for the ML inference service',
  });
}

app.synth();
