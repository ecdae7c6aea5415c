/**
 * A SageMaker endpoint with two variants as UpdateEndpointWeightsAndCapacities and DescribeEndpoint see
 * it (status, CurrentWeight/DesiredWeight, how each accepted update ends), and the faults the rollout
 * world injects by attempt number (test/support/canary-rollout.ts).
 */
import type { JsonValue } from './state-machine';

export const ENDPOINT = 'Inference-Endpoint';
export const BASELINE_VARIANT = 'VariantA';
export const CANARY_VARIANT = 'VariantB';

export class NamedError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}
// ---- Faults ---------------------------------------------------------------------------------------

/** Which weight update a fault is about, by the state that asks for it. */
export type UpdatePath = 'forward' | 'rollback' | 'restore';
/** How an update SageMaker accepted ends (`InService` with the asked weights when no fault says otherwise). */
export type UpdateEnding = 'rolling-back' | 'failed' | 'out-of-service' | 'stuck' | 'slow';
/** Ways the judge's answer can break its contract. */
export const MALFORMATIONS = [
  'missing-verdict',
  'unknown-verdict',
  'numeric-verdict',
  'missing-weights',
  'weights-without-canary',
  'relative-weights',
  'weights-not-summing-to-100',
  'missing-next-step-index',
  'next-step-index-out-of-range',
  'string-next-step-index',
  'missing-done',
  'done-at-partial-weight',
  'rollback-without-reason',
  'null-answer',
] as const;
export type Malformation = (typeof MALFORMATIONS)[number];

/** A call that fails with an error; `attempt` is the 1-based count of calls of that kind. */
export type Fault =
  | {
      readonly kind: 'update-error';
      readonly path: UpdatePath;
      readonly error: string;
      readonly attempt: number;
    }
  | {
      readonly kind: 'update-ending';
      readonly path: UpdatePath;
      readonly ending: UpdateEnding;
      readonly attempt: number;
    }
  | { readonly kind: 'describe-error'; readonly error: string; readonly attempt: number }
  | {
      readonly kind: 'describe-odd';
      readonly odd: 'no-variants' | 'no-canary-variant' | 'system-updating' | 'no-status';
      readonly attempt: number;
    }
  | { readonly kind: 'judge-error'; readonly error: string; readonly attempt: number }
  | { readonly kind: 'judge-malformed'; readonly malformation: Malformation; readonly attempt: number }
  | {
      readonly kind: 'ssm-get-error';
      readonly error: string;
      readonly attempt: number;
      readonly times?: number;
    }
  | {
      readonly kind: 'ssm-put-error';
      readonly error: string;
      readonly attempt: number;
      readonly times?: number;
    }
  | { readonly kind: 'sns-error'; readonly error: string; readonly attempt: number }
  | { readonly kind: 'lease-error'; readonly error: string; readonly attempt: number }
  /** An abort during the n-th task call (or the n-th judge call). */
  | { readonly kind: 'abort'; readonly attempt: number; readonly on?: 'judge' };

/** The name a fault is counted under in the report (its kind and variety, not its attempt). */
export function faultName(fault: Fault): string {
  switch (fault.kind) {
    case 'update-error':
      return `update-error:${fault.path}:${fault.error}`;
    case 'update-ending':
      return `update-ending:${fault.path}:${fault.ending}`;
    case 'describe-error':
    case 'judge-error':
    case 'sns-error':
    case 'lease-error':
      return `${fault.kind}:${fault.error}`;
    case 'ssm-get-error':
    case 'ssm-put-error':
      return `${fault.kind}:${fault.error}${fault.times && fault.times > 1 ? ':repeated' : ''}`;
    case 'describe-odd':
      return `describe-odd:${fault.odd}`;
    case 'judge-malformed':
      return `judge-malformed:${fault.malformation}`;
    case 'abort':
      return 'abort';
  }
}
/** `value` without `key`. */
export function without(value: Record<string, unknown>, key: string): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([k]) => k !== key));
}

/** The judge's answer broken the given way. */
export function malform(output: Record<string, unknown>, how: Malformation): unknown {
  const weights = output.weights as Record<string, number> | undefined;
  switch (how) {
    case 'missing-verdict':
      return without(output, 'verdict');
    case 'unknown-verdict':
      return { ...output, verdict: 'proceed' };
    case 'numeric-verdict':
      return { ...output, verdict: 1 };
    case 'missing-weights':
      return without(output, 'weights');
    case 'weights-without-canary':
      return { ...output, weights: { [BASELINE_VARIANT]: weights?.[BASELINE_VARIANT] ?? 50 } };
    case 'relative-weights':
      // The same canary share as the answer... unless it is read as percent: 20/180 is 90 %.
      return { ...output, weights: { [BASELINE_VARIANT]: 20, [CANARY_VARIANT]: 180 } };
    case 'weights-not-summing-to-100':
      return { ...output, weights: { [BASELINE_VARIANT]: 50, [CANARY_VARIANT]: 80 } };
    case 'missing-next-step-index':
      return without(output, 'nextStepIndex');
    case 'next-step-index-out-of-range':
      return { ...output, nextStepIndex: 7 };
    case 'string-next-step-index':
      return { ...output, nextStepIndex: String(output.nextStepIndex) };
    case 'missing-done':
      return without(output, 'done');
    case 'done-at-partial-weight':
      return {
        ...output,
        verdict: 'promote',
        done: true,
        weights: { [BASELINE_VARIANT]: 50, [CANARY_VARIANT]: 50 },
      };
    case 'rollback-without-reason':
      return { ...without(output, 'reason'), verdict: 'rollback' };
    case 'null-answer':
      return null;
  }
}

/** Runs the synthesized definition in the world the scenario describes. */
// ---- The endpoint ---------------------------------------------------------------------------------

interface Pending {
  polls: number;
  readonly ending: UpdateEnding | 'in-service';
  readonly previous: Record<string, number>;
}

/** A SageMaker endpoint with two variants, as UpdateEndpointWeightsAndCapacities and DescribeEndpoint see it. */
export class SimulatedEndpoint {
  /** CurrentWeight per variant: what the endpoint serves. */
  weights: Record<string, number>;
  /** DesiredWeight per variant: what the last accepted update asked for. */
  desired: Record<string, number>;
  status = 'InService';
  /** Every accepted update's asked weights, in order. */
  readonly updates: Record<string, number>[] = [];
  describes = 0;
  private pending: Pending | undefined;
  private rollingBackPolls = 0;
  private readonly attempts: Record<UpdatePath, number> = { forward: 0, rollback: 0, restore: 0 };
  private readonly accepted: Record<UpdatePath, number> = { forward: 0, rollback: 0, restore: 0 };

  constructor(
    initial: Record<string, number>,
    private readonly faults: readonly Fault[],
    private readonly updatingPolls: number,
  ) {
    this.weights = { ...initial };
    this.desired = { ...initial };
  }

  /** The canary's share of traffic (weights are relative), NaN when no variant has weight. */
  canaryShare(): number {
    const total = (this.weights[BASELINE_VARIANT] ?? 0) + (this.weights[CANARY_VARIANT] ?? 0);
    return (this.weights[CANARY_VARIANT] ?? 0) / total;
  }

  update(path: UpdatePath, input: JsonValue): JsonValue {
    const { EndpointName, DesiredWeightsAndCapacities } = input as {
      EndpointName: string;
      DesiredWeightsAndCapacities: { VariantName: string; DesiredWeight: number }[];
    };
    if (EndpointName !== ENDPOINT) throw new Error(`update of an unknown endpoint ${EndpointName}`);
    this.attempts[path] += 1;
    const error = this.faults.find(
      (f) => f.kind === 'update-error' && f.path === path && f.attempt === this.attempts[path],
    );
    if (error?.kind === 'update-error') throw new NamedError(error.error, `injected ${faultName(error)}`);
    if (this.status !== 'InService') {
      throw new NamedError(
        'SageMaker.ValidationException',
        `Cannot update endpoint ${ENDPOINT} while it is ${this.status}`,
      );
    }
    for (const weight of DesiredWeightsAndCapacities) {
      if (typeof weight.DesiredWeight !== 'number' || weight.DesiredWeight < 0) {
        throw new NamedError(
          'SageMaker.ValidationException',
          `invalid DesiredWeight ${String(weight.DesiredWeight)}`,
        );
      }
    }
    this.accepted[path] += 1;
    const ending = this.faults.find(
      (f) => f.kind === 'update-ending' && f.path === path && f.attempt === this.accepted[path],
    );
    const asked = Object.fromEntries(
      DesiredWeightsAndCapacities.map((w) => [w.VariantName, w.DesiredWeight]),
    );
    this.updates.push(asked);
    this.pending = {
      polls: this.updatingPolls + (ending?.kind === 'update-ending' && ending.ending === 'slow' ? 15 : 0),
      ending: ending?.kind === 'update-ending' ? ending.ending : 'in-service',
      previous: { ...this.weights },
    };
    this.desired = { ...this.desired, ...asked };
    this.status = 'Updating';
    return {};
  }

  describe(input: JsonValue): JsonValue {
    if ((input as { EndpointName: string }).EndpointName !== ENDPOINT)
      throw new Error('describe of an unknown endpoint');
    this.describes += 1;
    const error = this.faults.find((f) => f.kind === 'describe-error' && f.attempt === this.describes);
    if (error?.kind === 'describe-error') throw new NamedError(error.error, `injected ${faultName(error)}`);
    this.advance();
    const odd = this.faults.find((f) => f.kind === 'describe-odd' && f.attempt === this.describes);
    const variants = [BASELINE_VARIANT, CANARY_VARIANT]
      .filter(
        (name) =>
          !(odd?.kind === 'describe-odd' && odd.odd === 'no-canary-variant' && name === CANARY_VARIANT),
      )
      .map((name) => ({
        VariantName: name,
        CurrentWeight: this.weights[name] ?? 0,
        DesiredWeight: this.desired[name] ?? 0,
        CurrentInstanceCount: 1,
      }));
    const status =
      odd?.kind === 'describe-odd' && odd.odd === 'system-updating' ? 'SystemUpdating' : this.status;
    return {
      EndpointName: ENDPOINT,
      ...(odd?.kind === 'describe-odd' && odd.odd === 'no-status' ? {} : { EndpointStatus: status }),
      ...(odd?.kind === 'describe-odd' && odd.odd === 'no-variants' ? {} : { ProductionVariants: variants }),
    };
  }

  /** One describe's worth of progress of the update in flight. */
  private advance(): void {
    if (this.status === 'RollingBack') {
      if (this.rollingBackPolls-- > 0) return;
      this.status = 'InService';
      return;
    }
    const pending = this.pending;
    if (this.status !== 'Updating' || !pending) return;
    if (pending.ending === 'stuck') return;
    if (pending.polls-- > 0) return;
    this.pending = undefined;
    switch (pending.ending) {
      case 'in-service':
      case 'slow':
        this.weights = { ...this.desired };
        this.status = 'InService';
        return;
      case 'rolling-back':
        // SageMaker restores the endpoint as it was: old weights, asked and served.
        this.weights = { ...pending.previous };
        this.desired = { ...pending.previous };
        this.status = 'RollingBack';
        this.rollingBackPolls = 2;
        return;
      case 'failed':
        this.status = 'Failed';
        return;
      case 'out-of-service':
        this.weights = { ...this.desired };
        this.status = 'OutOfService';
        return;
    }
  }
}
