/**
 * The canary rollout controller's promises at the end of an execution (docs/ROLLOUT.md, "Invariants"),
 * checked over what the simulated world (test/support/canary-rollout.ts) looks like then.
 */
import type { RolloutPolicy } from '../../services/rollout/policy';
import { POLICY, VERSION_DOC, type Outcome } from './canary-rollout';

/** Errors the controller ends with by design (docs/ROLLOUT.md, output contract). */
export const DESIGNED_ERRORS = [
  'CanaryRolledBack',
  'CanaryRolloutFailed',
  'CanaryRejectedBefore',
  'CanaryRollbackIncomplete',
  'CanaryRestoreIncomplete',
  'CanaryRecordIncomplete',
  'CanaryRegistryUnreadable',
];

/** Alerts that say the endpoint or the registry may not be as the invariants want them. */
const INCOMPLETE = /rollback FAILED|not restored|not fully recorded|not started/;

function registryStatus(outcome: Outcome): string | undefined {
  const doc = outcome.parameters.get(VERSION_DOC);
  return doc === undefined ? undefined : ((JSON.parse(doc) as { status?: string }).status ?? undefined);
}

function stepWeights(policy: RolloutPolicy): string[] {
  return policy.steps.map((canary) => JSON.stringify({ VariantA: 100 - canary, VariantB: canary }));
}

/**
 * The controller's promises at the end of an execution (docs/ROLLOUT.md, "Invariants"); returns the
 * ones broken, empty when all hold. An abort (no Catch runs, by Step Functions' design) is only held to
 * "no traffic lease after the end".
 */
export function checkInvariants(outcome: Outcome, policy: RolloutPolicy = POLICY): string[] {
  const broken: string[] = [];
  const { timeline, endpoint, notifications } = outcome;
  // I4: the traffic source is leased only ahead of a judgement.
  const lastJudge = timeline.findLastIndex((e) => e.kind === 'judge' || e.kind === 'abort');
  const leasesAfter = timeline.slice(lastJudge + 1).filter((e) => e.kind === 'lease').length;
  if (leasesAfter > (lastJudge < 0 ? 1 : 0))
    broken.push(`I4: ${leasesAfter} traffic lease(s) after the last judgement`);
  if (outcome.status === 'ABORTED') return broken;

  const share = endpoint.canaryShare();
  const alerted = notifications.some((n) => INCOMPLETE.test(n.Subject ?? ''));
  const status = registryStatus(outcome);
  const starting = outcome.scenario.startingStatus ?? 'candidate';
  // I0: every execution ends by design (no timeout, no runtime error, no endless loop).
  if (outcome.status === 'TIMED_OUT' || outcome.status === 'RUNAWAY')
    broken.push(`I0: the execution ${outcome.status}`);
  if (outcome.status === 'FAILED' && !DESIGNED_ERRORS.includes(outcome.errorName ?? '')) {
    broken.push(`I0: the execution failed with ${outcome.errorName}: ${outcome.error?.message}`);
  }
  // I1: the endpoint serves one model, read back; or an alert said it may not.
  if (share !== 0 && share !== 1 && !alerted) {
    broken.push(
      `I1: the endpoint ends at canary ${(share * 100).toFixed(1)} % (${endpoint.status}) with no alert`,
    );
  }
  // I2: the registry says active iff the canary serves 100 %, rejected iff rolled back on evidence.
  if (!alerted && status !== undefined && (status === 'active') !== (share === 1)) {
    broken.push(`I2: registry status ${status} with the canary at ${(share * 100).toFixed(1)} %`);
  }
  const evidence = outcome.errorName === 'CanaryRolledBack';
  const unrecorded = notifications.some((n) => /could not record the rejection/.test(n.Message));
  if (status === 'rejected' && !evidence && starting !== 'rejected') {
    broken.push(
      `I2: registry status rejected without a rollback on evidence (${outcome.errorName ?? outcome.status})`,
    );
  }
  if (evidence && status !== 'rejected' && status !== undefined && !unrecorded) {
    broken.push(`I2: rolled back on evidence but the registry says ${status}`);
  }
  // I3: Succeeded only when promoted.
  if (outcome.status === 'SUCCEEDED' && (share !== 1 || (status !== undefined && status !== 'active'))) {
    broken.push(
      `I3: SUCCEEDED with the canary at ${(share * 100).toFixed(1)} % and registry status ${status}`,
    );
  }
  // I5: weights come from the policy, never from a malformed answer.
  const allowed = new Set([...stepWeights(policy), JSON.stringify({ VariantA: 100, VariantB: 0 })]);
  timeline.forEach((entry, index) => {
    if (entry.kind === 'update' && !allowed.has(JSON.stringify(entry.weights))) {
      broken.push(`I5: an update asked for ${JSON.stringify(entry.weights)}`);
    }
    if (entry.kind === 'judge' && entry.malformed) {
      // What the controller did with that answer: the next update, unless another judgement came first.
      const next = timeline.slice(index + 1).find((e) => e.kind === 'update' || e.kind === 'judge');
      if (next?.kind === 'update' && next.path !== 'rollback') {
        broken.push(
          `I5: after a malformed answer (${entry.malformed}) the weights moved to ${JSON.stringify(next.weights)}`,
        );
      }
    }
  });
  // I6: a decided candidate is never rolled out again, and keeps its status.
  if (starting === 'active' || starting === 'rejected') {
    if (
      timeline.some(
        (e) => e.kind === 'judge' || e.kind === 'lease' || (e.kind === 'update' && e.path === 'forward'),
      )
    ) {
      broken.push(`I6: a candidate decided ${starting} was rolled out again`);
    }
    if (status !== starting) broken.push(`I6: a candidate decided ${starting} ends ${status}`);
  }
  // I7: every failure a person must act on reached the topic.
  if (
    outcome.status === 'FAILED' &&
    outcome.errorName !== 'CanaryRejectedBefore' &&
    notifications.length === 0
  ) {
    broken.push(`I7: FAILED with ${outcome.errorName} and no alert`);
  }
  return broken;
}
