import type { RecordedStatus } from '../../services/registry/adapters/registry';
import { planConvergence, unifiedDiff } from '../../services/registry/converge';
import type { StageModelVersions } from '../../services/registry/model-versions';

const prefix = '/mlinference/prod/model';
const plan = (
  current: StageModelVersions,
  activeVersion: string | undefined,
  statuses: Record<string, RecordedStatus>,
) => planConvergence('prod', current, { prefix, activeVersion, statuses, rejectedArchives: {} });
const rollback = { toVersion: 'v1.0.0', reason: 'v1.1.0 mislabels a segment (INC-42)' };

describe('planConvergence', () => {
  it('a promotion makes the promoted version the baseline and proposes nothing', () => {
    const result = plan({ baselineVersion: 'v1.0.0', candidateVersion: 'v1.1.0' }, 'v1.1.0', {
      'v1.1.0': 'active',
    });
    expect(result).toMatchObject({ decision: 'promotion', changed: true });
    expect(result.next).toEqual({ baselineVersion: 'v1.1.0', candidateVersion: 'v1.1.0' });
  });

  it('a rejection reverts the proposal', () => {
    const result = plan({ baselineVersion: 'v1.0.0', candidateVersion: 'v1.1.0' }, 'v1.0.0', {
      'v1.1.0': 'rejected',
    });
    expect(result.decision).toBe('rollback');
    expect(result.next).toEqual({ baselineVersion: 'v1.0.0', candidateVersion: 'v1.0.0' });
  });

  it('an undecided candidate stays proposed', () => {
    const current = { baselineVersion: 'v1.0.0', candidateVersion: 'v1.1.0' };
    expect(plan(current, 'v1.0.0', { 'v1.1.0': 'candidate' })).toMatchObject({
      decision: 'none',
      changed: false,
    });
  });

  it('keeps a declared rollback the registry has not recorded, instead of undoing it', () => {
    const current = { baselineVersion: 'v1.0.0', candidateVersion: 'v1.0.0', rollback };
    expect(plan(current, 'v1.1.0', { 'v1.0.0': 'candidate' })).toMatchObject({
      decision: 'intended-rollback',
      changed: false,
    });
  });

  it('after a declared rollback, a promoted candidate settles the stage and drops the rollback', () => {
    const current = { baselineVersion: 'v1.0.0', candidateVersion: 'v1.2.0', rollback };
    const result = plan(current, 'v1.2.0', { 'v1.2.0': 'active' });
    expect(result.next).toEqual({ baselineVersion: 'v1.2.0', candidateVersion: 'v1.2.0' });
  });

  it('after a declared rollback, a rejected candidate leaves the rolled-back baseline, not the stale registry version', () => {
    const current = { baselineVersion: 'v1.0.0', candidateVersion: 'v1.2.0', rollback };
    const result = plan(current, 'v1.1.0', { 'v1.2.0': 'rejected' });
    expect(result.next).toEqual({ baselineVersion: 'v1.0.0', candidateVersion: 'v1.0.0', rollback });
  });

  it('drops a rollback once the registry records it', () => {
    const current = { baselineVersion: 'v1.0.0', candidateVersion: 'v1.0.0', rollback };
    const result = plan(current, 'v1.0.0', {});
    expect(result).toMatchObject({ changed: true });
    expect(result.next).toEqual({ baselineVersion: 'v1.0.0', candidateVersion: 'v1.0.0' });
  });
});

it('unifiedDiff shows removed lines before added ones', () => {
  expect(unifiedDiff('f.json', 'a\nb\nc\n', 'a\nB\nc\n')).toBe(
    '--- a/f.json\n+++ b/f.json\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n',
  );
  expect(unifiedDiff('f.json', 'same\n', 'same\n')).toBe('');
});
