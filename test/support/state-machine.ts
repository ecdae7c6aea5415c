import type { Template } from 'aws-cdk-lib/assertions';
import type { RunOptions, StateMachine } from 'aws-local-stepfunctions';

/** What asl-validator answers. */
export interface AslValidation {
  isValid: boolean;
  errorsText: (separator?: string) => string;
}
// asl-validator ships no type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const validateAsl = require('asl-validator') as (definition: unknown) => AslValidation;

/** Asserts that a synthesized definition is valid Amazon States Language, showing the errors if not. */
export function expectValidAsl(definition: Record<string, unknown>): void {
  const result = validateAsl(structuredClone(definition));
  expect(result.errorsText('\n')).toBe('');
  expect(result.isValid).toBe(true);
}

/** A JSON value as aws-local-stepfunctions passes it to and from task handlers. */
export type JsonValue = Parameters<StateMachine['run']>[0];
/** Local stand-ins for Task states, by state name. */
export type TaskHandlers = NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']>;

/** Fake but well-formed values for the pseudo parameters of a synthesized template. */
export interface FakeEnvironment {
  readonly account: string;
  readonly region: string;
}

/**
 * Resolves the intrinsics of a synthesized definition to fake but well-formed values: pseudo
 * parameters to the given environment, `Ref` to the logical id, `Fn::GetAtt …Arn` to a Lambda ARN
 * (the only ARN attribute a definition string uses), a cross-stack `Fn::GetStackOutput` to its
 * output name.
 */
export function resolveIntrinsics(value: unknown, env: FakeEnvironment): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((v) => resolveIntrinsics(v, env));
  const node = value as Record<string, unknown>;
  if ('Fn::Join' in node) {
    const [separator, parts] = node['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => resolveIntrinsics(p, env)).join(separator);
  }
  if ('Ref' in node) {
    const pseudo: Record<string, string> = {
      'AWS::Partition': 'aws',
      'AWS::Region': env.region,
      'AWS::AccountId': env.account,
      'AWS::URLSuffix': 'amazonaws.com',
    };
    return pseudo[node.Ref as string] ?? `${node.Ref as string}`;
  }
  if ('Fn::GetAtt' in node) {
    const [logicalId, attribute] = node['Fn::GetAtt'] as [string, string];
    return attribute === 'Arn'
      ? `arn:aws:lambda:${env.region}:${env.account}:function:${logicalId}`
      : logicalId;
  }
  if ('Fn::GetStackOutput' in node) {
    return (node['Fn::GetStackOutput'] as { OutputName: string }).OutputName;
  }
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, resolveIntrinsics(v, env)]));
}

/** The Amazon States Language definition of the template's only state machine, intrinsics resolved. */
export function stateMachineDefinition(template: Template, env: FakeEnvironment): Record<string, unknown> {
  const machines = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
  if (machines.length !== 1) throw new Error(`expected one state machine, found ${machines.length}`);
  const definition = resolveIntrinsics(machines[0].Properties.DefinitionString, env);
  return JSON.parse(definition as string) as Record<string, unknown>;
}
