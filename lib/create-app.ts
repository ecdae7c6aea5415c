import { App, type AppProps } from 'aws-cdk-lib';
import { addComplianceChecks } from './compliance';
import { PipelineStack } from './pipeline/pipeline-stack';
import { MlInferenceStage } from './stages/ml-inference-stage';
import { sandboxConfig } from './stages/sandbox';
import { validateConfig, type AppConfig, type DeploymentTarget } from './stages/stage-config';

/** What the app is built from. */
export interface CreateAppOptions extends AppProps {
  /** The user's configuration; validated before anything is built. */
  readonly config: AppConfig;
  /**
   * Account and region of the caller's credentials, the default target of `-c sandbox=true`.
   * @default - the dev stage's target
   */
  readonly credentialsTarget?: Partial<DeploymentTarget>;
}

/** The built app and its top-level parts. */
export interface BuiltApp {
  readonly app: App;
  /** The pipeline stack, unless a sandbox was asked for. */
  readonly pipeline?: PipelineStack;
  /** The sandbox stage, when asked for. */
  readonly sandbox?: MlInferenceStage;
}

/**
 * Builds the CDK app: validates the configuration, registers the compliance checks on the App (so
 * they reach every stage) and adds the pipeline, or with `-c sandbox=true` one directly deployable
 * stage.
 */
export function createApp(options: CreateAppOptions): BuiltApp {
  const { config: userConfig, credentialsTarget, ...appProps } = options;
  const config = validateConfig(userConfig);
  const app = new App(appProps);
  const sandbox = sandboxConfig(app, config, credentialsTarget);
  addComplianceChecks(app);
  if (sandbox) {
    return {
      app,
      sandbox: new MlInferenceStage(app, 'Sandbox', { project: config.project, config: sandbox }),
    };
  }
  const pipeline = new PipelineStack(app, 'MlInferencePipeline', {
    env: { account: config.pipeline.account, region: config.pipeline.region },
    config,
    description: 'GitOps delivery pipeline for the ML inference service',
  });
  return { app, pipeline };
}
