import type { RegistrySnapshot } from '../../services/registry/adapters/registry';
import { guard } from '../../services/registry/guard';
import {
  compareVersions,
  ModelVersionsError,
  parseModelVersions,
  type StageModelVersions,
} from '../../services/registry/model-versions';

const prefix = '/mlinference/prod/model';
const now = new Date('2026-12-01T12:00:00Z');
const check = (versions: StageModelVersions, registry: Omit<RegistrySnapshot, 'prefix'>) =>
  guard({ stage: 'prod', versions, registry: { prefix, ...registry }, now, commit: 'abc123' });

describe('guard', () => {
  it('passes a commit whose baseline is what the stage serves', () => {
    const report = check(
      { baselineVersion: 'v1.1.0', candidateVersion: 'v1.2.0' },
      { activeVersion: 'v1.1.0', statuses: { 'v1.1.0': 'active', 'v1.2.0': 'missing' } },
    );
    expect(report.outcome).toBe('pass');
    expect(report.problems).toEqual([]);
    expect(report.commit).toBe('abc123');
  });

  it('fails a stale baseline after a promotion, naming the field and the value to set', () => {
    // prod promoted v1.1.0; the next commit only proposes v1.2.0 and keeps the old baseline.
    const report = check(
      { baselineVersion: 'v1.0.0', candidateVersion: 'v1.2.0' },
      { activeVersion: 'v1.1.0', statuses: { 'v1.0.0': 'baseline', 'v1.2.0': 'missing' } },
    );
    expect(report.outcome).toBe('fail');
    expect(report.problems).toHaveLength(1);
    expect(report.problems[0]).toMatchObject({
      field: 'prod.baselineVersion',
      value: 'v1.0.0',
      set: 'v1.1.0',
    });
    expect(report.problems[0]!.message).toContain('config/model-versions.json: prod.baselineVersion');
    expect(report.problems[0]!.message).toContain('"baselineVersion": "v1.1.0"');
  });

  it('orders versions numerically, not as text (v1.10.0 is newer than v1.9.0)', () => {
    const report = check(
      { baselineVersion: 'v1.9.0', candidateVersion: 'v1.9.0' },
      { activeVersion: 'v1.10.0', statuses: {} },
    );
    expect(report.problems.map((p) => p.field)).toEqual(['prod.baselineVersion']);
    expect(compareVersions('v1.10.0', 'v1.9.0')).toBeGreaterThan(0);
  });

  it('fails a candidate the stage already rejected, naming the field', () => {
    const report = check(
      { baselineVersion: 'v1.0.0', candidateVersion: 'v1.1.0' },
      { activeVersion: 'v1.0.0', statuses: { 'v1.0.0': 'baseline', 'v1.1.0': 'rejected' } },
    );
    expect(report.outcome).toBe('fail');
    expect(report.problems).toEqual([
      expect.objectContaining({ field: 'prod.candidateVersion', value: 'v1.1.0' }),
    ]);
    expect(report.problems[0]!.message).toMatch(/prod\.candidateVersion "v1\.1\.0" was already rejected/);
    expect(report.problems[0]!.message).toContain('"candidateVersion": "v1.0.0"');
  });

  it('fails a baseline that was rejected there', () => {
    const report = check(
      { baselineVersion: 'v1.2.0', candidateVersion: 'v1.2.0' },
      { activeVersion: 'v1.1.0', statuses: { 'v1.2.0': 'rejected' } },
    );
    expect(report.problems.map((p) => p.field)).toEqual(['prod.baselineVersion']);
  });

  it('passes an intended rollback and reports it for the dossier', () => {
    const reason = 'v1.1.0 mislabels a customer segment (INC-42)';
    const report = check(
      { baselineVersion: 'v1.0.0', candidateVersion: 'v1.0.0', rollback: { toVersion: 'v1.0.0', reason } },
      { activeVersion: 'v1.1.0', statuses: { 'v1.0.0': 'baseline' } },
    );
    expect(report.outcome).toBe('pass');
    expect(report.intendedRollback).toEqual({ fromVersion: 'v1.1.0', toVersion: 'v1.0.0', reason });
    expect(report.notes.join('\n')).toContain('intended rollback of prod from v1.1.0 to v1.0.0');
  });

  it('does not let a declared rollback excuse a rejected candidate', () => {
    const report = check(
      {
        baselineVersion: 'v1.0.0',
        candidateVersion: 'v1.2.0',
        rollback: { toVersion: 'v1.0.0', reason: 'back to the known good one' },
      },
      { activeVersion: 'v1.1.0', statuses: { 'v1.2.0': 'rejected' } },
    );
    expect(report.problems.map((p) => p.field)).toEqual(['prod.candidateVersion']);
  });

  it('passes a stage with nothing recorded yet and says so', () => {
    const report = check({ baselineVersion: 'v1.0.0', candidateVersion: 'v1.1.0' }, { statuses: {} });
    expect(report.outcome).toBe('pass');
    expect(report.registry.activeVersion).toBeNull();
    expect(report.notes[0]).toMatch(/no recorded decision yet/);
  });
});

describe('config/model-versions.json', () => {
  const valid = { dev: { baselineVersion: 'v1.0.0', candidateVersion: 'v1.1.0' } };
  it('names every bad field', () => {
    const text = JSON.stringify({
      ...valid,
      prod: {
        baselineVersion: '1.0',
        candidateVersion: 'v1.1.0',
        rollback: { toVersion: 'v1.1.0', reason: 'x' },
      },
    });
    expect(() => parseModelVersions(text)).toThrow(ModelVersionsError);
    try {
      parseModelVersions(text);
    } catch (error) {
      expect((error as ModelVersionsError).problems).toEqual([
        'prod.baselineVersion: "1.0" is not a version such as "v1.0.0"',
        'prod.rollback: must be {"toVersion": "<baselineVersion>", "reason": "<why, at least 10 characters>"}',
      ]);
    }
  });

  it('requires a rollback to name the baseline it goes back to', () => {
    const text = JSON.stringify({
      ...valid,
      prod: {
        baselineVersion: 'v1.0.0',
        candidateVersion: 'v1.0.0',
        rollback: { toVersion: 'v1.1.0', reason: 'a long enough reason' },
      },
    });
    expect(() => parseModelVersions(text)).toThrow(
      /prod\.rollback\.toVersion: "v1\.1\.0" must equal prod\.baselineVersion/,
    );
  });
});
