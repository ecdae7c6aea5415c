/**
 * Infrastructure changes between two releases, per stack, computed with `@aws-cdk/cloudformation-diff`
 * (the library behind `cdk diff`): resources added, removed and replaced, and the IAM changes it
 * reports (identity policies, resource policies such as bucket, topic, queue and key policies,
 * Lambda permissions, managed policy attachments).
 */
import { fullDiff, ResourceImpact } from '@aws-cdk/cloudformation-diff';
import type { Template } from './release';

/** One permission change. An added statement is new or widened (a changed statement shows as removed + added). */
export interface PermissionChange {
  readonly stack: string;
  readonly change: 'added' | 'removed';
  readonly kind: 'statement' | 'managed-policy';
  readonly effect: string;
  readonly principal: string;
  readonly action: string;
  readonly resource: string;
  readonly condition: string;
}

/** One resource in a change list. */
export interface ResourceRef {
  readonly logicalId: string;
  readonly type: string;
  /** The construct path (`aws:cdk:path` metadata), when the template has it. */
  readonly path: string | null;
}

/** A replaced resource and the properties whose change forces it. */
export interface ReplacedResource extends ResourceRef {
  readonly impact: 'replaced' | 'may be replaced';
  readonly properties: readonly string[];
}

/** The changes of one stack. */
export interface StackChanges {
  readonly stack: string;
  readonly status: 'new' | 'removed' | 'changed' | 'unchanged';
  readonly added: readonly ResourceRef[];
  readonly removed: readonly ResourceRef[];
  readonly replaced: readonly ReplacedResource[];
  /** Resources updated in place (including metadata-only changes). */
  readonly updated: number;
  /** Outputs, parameters and other template sections that changed. */
  readonly otherChanges: number;
  readonly permissions: readonly PermissionChange[];
}

const cdkPath = (resource: unknown): string | null => {
  const metadata = (resource as { Metadata?: Record<string, unknown> } | undefined)?.Metadata;
  const value = metadata?.['aws:cdk:path'];
  return typeof value === 'string' ? value : null;
};

/** Diffs one stack's previous template (undefined: the stack is new) against its current one. */
export function diffStack(
  stack: string,
  previous: Template | undefined,
  current: Template | undefined,
): StackChanges {
  const diff = fullDiff(previous ?? {}, current ?? {});
  const added: ResourceRef[] = [];
  const removed: ResourceRef[] = [];
  const replaced: ReplacedResource[] = [];
  let updated = 0;
  for (const [logicalId, change] of Object.entries(diff.resources.changes)) {
    if (!change.isDifferent) continue;
    if (change.isAddition) {
      added.push({ logicalId, type: change.newResourceType ?? '?', path: cdkPath(change.newValue) });
    } else if (change.isRemoval) {
      removed.push({ logicalId, type: change.oldResourceType ?? '?', path: cdkPath(change.oldValue) });
    } else if (
      change.changeImpact === ResourceImpact.WILL_REPLACE ||
      change.changeImpact === ResourceImpact.MAY_REPLACE
    ) {
      const properties = Object.entries(change.propertyUpdates)
        .filter(
          ([, p]) =>
            p.changeImpact === ResourceImpact.WILL_REPLACE || p.changeImpact === ResourceImpact.MAY_REPLACE,
        )
        .map(([name]) => name);
      replaced.push({
        logicalId,
        type: change.newResourceType ?? change.oldResourceType ?? '?',
        path: cdkPath(change.newValue),
        impact: change.changeImpact === ResourceImpact.WILL_REPLACE ? 'replaced' : 'may be replaced',
        properties: change.resourceTypeChanged ? ['Type', ...properties] : properties,
      });
    } else {
      updated += 1;
    }
  }
  const permissions: PermissionChange[] = [];
  const statements = diff.iamChanges.statements;
  for (const [change, list] of [
    ['added', statements.additions],
    ['removed', statements.removals],
  ] as const) {
    for (const statement of list) {
      const r = statement.render();
      permissions.push({ stack, change, kind: 'statement', ...r });
    }
  }
  const managed = diff.iamChanges.managedPolicies;
  for (const [change, list] of [
    ['added', managed.additions],
    ['removed', managed.removals],
  ] as const) {
    for (const attachment of list) {
      permissions.push({
        stack,
        change,
        kind: 'managed-policy',
        effect: 'Allow',
        principal: attachment.identityArn,
        action: 'managed policy',
        resource: attachment.managedPolicyArn,
        condition: '',
      });
    }
  }
  const otherChanges =
    diff.outputs.differenceCount +
    diff.parameters.differenceCount +
    diff.conditions.differenceCount +
    diff.mappings.differenceCount;
  const status =
    previous === undefined
      ? 'new'
      : current === undefined
        ? 'removed'
        : added.length + removed.length + replaced.length + updated + otherChanges + permissions.length > 0
          ? 'changed'
          : 'unchanged';
  return { stack, status, added, removed, replaced, updated, otherChanges, permissions };
}

/** Diffs every stack of two releases, in stack-name order. */
export function diffStacks(
  previous: ReadonlyMap<string, Template>,
  current: ReadonlyMap<string, Template>,
): StackChanges[] {
  const names = [...new Set([...previous.keys(), ...current.keys()])].sort();
  return names.map((name) => diffStack(name, previous.get(name), current.get(name)));
}
