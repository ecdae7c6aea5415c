import { App, CfnElement, CfnResource, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { MlInferenceStage } from '../../lib/stages/ml-inference-stage';
import { templateOnlyContext, tempOutdir, testConfig } from '../support/cdk-app';
import type { CfnTemplate, ResourceRef, StageTemplates } from './checker';

/** A synthesized stage: its templates for the pure checks and a way to find a construct's resource. */
export interface SynthesizedStage {
  readonly stage: MlInferenceStage;
  readonly templates: StageTemplates;
  /**
   * The CloudFormation resource of the construct at `path` (relative to the stage, e.g.
   * `Inference/Predict`): the construct itself or its default child. Undefined while the stage has
   * no such construct (a component not built yet).
   */
  locate(path: string): ResourceRef | undefined;
}

function cfnResourceOf(construct: IConstruct): CfnResource | undefined {
  if (construct instanceof CfnResource) return construct;
  const child = construct.node.defaultChild;
  return child instanceof CfnResource ? child : undefined;
}

/** Synthesizes the Dev stage as `cdk synth` would (cdk.json context), without bundling or compliance plugins. */
export function synthesizeStage(): SynthesizedStage {
  const app = new App({
    outdir: tempOutdir(),
    context: templateOnlyContext(),
  });
  const stage = new MlInferenceStage(app, 'Dev', { project: testConfig.project, config: testConfig.dev });
  const assembly = stage.synth();
  const stacks: Record<string, CfnTemplate> = {};
  for (const artifact of assembly.stacks) stacks[artifact.stackName] = artifact.template as CfnTemplate;
  const templates: StageTemplates = {
    stacks,
    region: testConfig.dev.target.region,
    account: testConfig.dev.target.account,
    partition: 'aws',
  };
  return {
    stage,
    templates,
    locate(path) {
      let node: IConstruct | undefined = stage;
      for (const id of path.split('/')) node = node?.node.tryFindChild(id);
      const resource = node && cfnResourceOf(node);
      if (!resource) return undefined;
      const stack = Stack.of(resource);
      return {
        stack: stack.stackName,
        logicalId: stack.resolve((resource as CfnElement).logicalId) as string,
      };
    },
  };
}
