import { CfnOutput, Stack } from 'aws-cdk-lib';
import {
  missingOutputs,
  parametersNamed,
  principalOf,
  resolve,
  stateMachineDefinition,
  unresolvedEnvironment,
  type ResourceRef,
  type StageTemplates,
} from './checker';
import { validateAsl } from '../support/state-machine';
import { synthesizeStage, type SynthesizedStage } from './stage-templates';

/** Environment variables that name one resource of the stage. */
const RESOURCE_VARIABLES = [
  'TABLE_NAME',
  'ENDPOINT_NAME',
  'DLQ_URL',
  'BATCH_BUCKET',
  'ANALYTICS_BUCKET',
  'ALERT_TOPIC_ARN',
  'STREAM_NAME',
  'STREAM_ARN',
  'STATE_MACHINE_ARN',
];

/** The definition with stage references (`{stack/id.attr}`) replaced by a well-formed ARN, as at deploy time. */
function withPlaceholderArns(definition: Record<string, unknown>): unknown {
  const arn = `arn:aws:lambda:${templates.region}:${templates.account}:function:resolved-at-deploy`;
  return JSON.parse(JSON.stringify(definition).replace(/\{[^{}"/]+\/[A-Za-z0-9]+\.[A-Za-z0-9.]+\}/g, arn));
}

let synthesized: SynthesizedStage;
let templates: StageTemplates;

function resourcesOfType(type: string): ResourceRef[] {
  return Object.entries(templates.stacks).flatMap(([stack, template]) =>
    Object.entries(template.Resources ?? {})
      .filter(([, r]) => r.Type === type)
      .map(([logicalId]) => ({ stack, logicalId })),
  );
}

beforeAll(() => {
  synthesized = synthesizeStage();
  templates = synthesized.templates;
});

/** Outputs the pipeline's post-deploy steps read (`envFromCfnOutputs` takes them from `stage.pipelineOutputs`). */
function consumedOutputs(): { stack: string; output: string }[] {
  const outputs = (synthesized.stage as unknown as { pipelineOutputs?: Record<string, unknown> })
    .pipelineOutputs;
  return Object.values(outputs ?? {})
    .filter((o): o is CfnOutput => o instanceof CfnOutput)
    .map((o) => ({ stack: Stack.of(o).stackName, output: Stack.of(o).resolve(o.logicalId) as string }));
}

it('every stack output a pipeline step consumes is an output of the stage', () => {
  const consumed = consumedOutputs();
  if (consumed.length === 0) console.log('References: the stage exposes no pipelineOutputs yet');
  expect(missingOutputs(templates, consumed)).toEqual([]);
});

it('every environment variable that names a resource resolves to a resource of the stage', () => {
  const principals = [
    ...resourcesOfType('AWS::Lambda::Function'),
    ...resourcesOfType('AWS::Batch::JobDefinition'),
  ].map((ref) => principalOf(templates, ref));
  const problems: string[] = [];
  for (const principal of principals) {
    const { stack, logicalId } = principal.resource;
    const unresolved = unresolvedEnvironment(templates, stack, principal.environment, RESOURCE_VARIABLES);
    for (const [name, value] of Object.entries(unresolved))
      problems.push(`${stack}/${logicalId} ${name}=${value}`);
    const prefix = principal.environment.MODEL_PARAMETER_PREFIX;
    if (
      prefix !== undefined &&
      parametersNamed(templates, `${resolve(prefix, templates, stack)}/*`).length === 0
    ) {
      problems.push(
        `${stack}/${logicalId} MODEL_PARAMETER_PREFIX=${resolve(prefix, templates, stack)} has no parameter under it`,
      );
    }
  }
  expect(principals.length).toBeGreaterThan(0);
  expect(problems).toEqual([]);
});

it('every state machine definition of the stage passes asl-validator', () => {
  const machines = resourcesOfType('AWS::StepFunctions::StateMachine');
  const problems = machines
    .map((ref) => ({ ref, result: validateAsl(withPlaceholderArns(stateMachineDefinition(templates, ref))) }))
    .filter(({ result }) => !result.isValid)
    .map(({ ref, result }) => `${ref.stack}/${ref.logicalId}: ${result.errorsText('; ')}`);
  expect(problems).toEqual([]);
});
