import type { RegistrySnapshot } from '../../services/registry/adapters/registry';
import { guard } from '../../services/registry/guard';
import {
  compareVersions,
  isModelVersion,
  ModelVersionsError,
  parseModelVersions,
  type StageModelVersions,
} from '../../services/registry/model-versions';

const prefix = '/mlinference/prod/model';
const now = new Date('2026-12-01T12:00:00Z');
/** A distinct archive SHA-256 per version unless a test says otherwise. */
const shaOf = (version: string): string => version.replace(/\W/g, '').padEnd(64, 'a');
const check = (
  versions: StageModelVersions,
  registry: Omit<RegistrySnapshot, 'prefix' | 'rejectedArchives'> & Partial<RegistrySnapshot>,
  archives: Record<string, string> = {
    [versions.baselineVersion]: shaOf(versions.baselineVersion),
    [versions.candidateVersion]: shaOf(versions.candidateVersion),
  },
) =>
  guard({
    stage: 'prod',
    versions,
    registry: { prefix, rejectedArchives: {}, ...registry },
    archives,
    now,
    commit: 'abc123',
  });

describe('guard', () => {
  it('passes a commit whose baseline is what the stage serves', () => {
    const report = check(
      { baselineVersion: 'v6.1.0', candidateVersion: 'v6.2.0' },
      { activeVersion: 'v6.1.0', statuses: { 'v6.1.0': 'active', 'v6.2.0': 'missing' } },
    );
    expect(report.outcome).toBe('pass');
    expect(report.problems).toEqual([]);
    expect(report.commit).toBe('abc123');
  });

  it('fails a stale baseline after a promotion, naming the field and the value to set', () => {
    // prod promoted v6.1.0; the next commit only proposes v6.2.0 and keeps the old baseline.
    const report = check(
      { baselineVersion: 'v6.0.0', candidateVersion: 'v6.2.0' },
      { activeVersion: 'v6.1.0', statuses: { 'v6.0.0': 'baseline', 'v6.2.0': 'missing' } },
    );
    expect(report.outcome).toBe('fail');
    expect(report.problems).toHaveLength(1);
    expect(report.problems[0]).toMatchObject({
      field: 'prod.baselineVersion',
      value: 'v6.0.0',
      set: 'v6.1.0',
    });
    expect(report.problems[0]!.message).toContain('config/model-versions.json: prod.baselineVersion');
    expect(report.problems[0]!.message).toContain('"baselineVersion": "v6.1.0"');
  });

  it('orders versions numerically, not as text (v6.10.0 is newer than v6.9.0)', () => {
    const report = check(
      { baselineVersion: 'v6.9.0', candidateVersion: 'v6.9.0' },
      { activeVersion: 'v6.10.0', statuses: {} },
    );
    expect(report.problems.map((p) => p.field)).toEqual(['prod.baselineVersion']);
    expect(compareVersions('v6.10.0', 'v6.9.0')).toBeGreaterThan(0);
  });

  it('fails a candidate the stage already rejected, naming the field', () => {
    const report = check(
      { baselineVersion: 'v6.0.0', candidateVersion: 'v6.1.0' },
      { activeVersion: 'v6.0.0', statuses: { 'v6.0.0': 'baseline', 'v6.1.0': 'rejected' } },
    );
    expect(report.outcome).toBe('fail');
    expect(report.problems).toEqual([
      expect.objectContaining({ field: 'prod.candidateVersion', value: 'v6.1.0' }),
    ]);
    expect(report.problems[0]!.message).toMatch(/prod\.candidateVersion "v6\.1\.0" was already rejected/);
    expect(report.problems[0]!.message).toContain('"candidateVersion": "v6.0.0"');
  });

  it('fails a baseline that was rejected there', () => {
    const report = check(
      { baselineVersion: 'v6.2.0', candidateVersion: 'v6.2.0' },
      { activeVersion: 'v6.1.0', statuses: { 'v6.2.0': 'rejected' } },
    );
    expect(report.problems.map((p) => p.field)).toEqual(['prod.baselineVersion']);
  });

  it('passes an intended rollback and reports it for the dossier', () => {
    const reason = 'v6.1.0 mislabels a customer segment (INC-42)';
    const report = check(
      { baselineVersion: 'v6.0.0', candidateVersion: 'v6.0.0', rollback: { toVersion: 'v6.0.0', reason } },
      { activeVersion: 'v6.1.0', statuses: { 'v6.0.0': 'baseline' } },
    );
    expect(report.outcome).toBe('pass');
    expect(report.intendedRollback).toEqual({ fromVersion: 'v6.1.0', toVersion: 'v6.0.0', reason });
    expect(report.notes.join('\n')).toContain('intended rollback of prod from v6.1.0 to v6.0.0');
  });

  it('does not let a declared rollback excuse a rejected candidate', () => {
    const report = check(
      {
        baselineVersion: 'v6.0.0',
        candidateVersion: 'v6.2.0',
        rollback: { toVersion: 'v6.0.0', reason: 'back to the known good one' },
      },
      { activeVersion: 'v6.1.0', statuses: { 'v6.2.0': 'rejected' } },
    );
    expect(report.problems.map((p) => p.field)).toEqual(['prod.candidateVersion']);
  });

  it('fails a candidate older than what the stage serves unless rollback declares it', () => {
    // prod serves v6.2.0; the commit keeps the baseline and proposes v6.0.0: the rollout would promote it.
    const older = { baselineVersion: 'v6.2.0', candidateVersion: 'v6.0.0' };
    const registry = { activeVersion: 'v6.2.0', statuses: { 'v6.2.0': 'active' as const } };
    const report = check(older, registry);
    expect(report.outcome).toBe('fail');
    expect(report.problems).toEqual([
      expect.objectContaining({ field: 'prod.candidateVersion', value: 'v6.0.0' }),
    ]);
    expect(report.problems[0]!.message).toContain('a rollout would promote the older model');
    expect(report.problems[0]!.message).toContain('"rollback": {"toVersion": "v6.0.0"');

    const declared = check(
      { ...older, rollback: { toVersion: 'v6.0.0', reason: 'compare the old model again' } },
      registry,
    );
    expect(declared.outcome).toBe('pass');
    expect(declared.notes.join('\n')).toContain('candidate v6.0.0 is older than v6.2.0');
  });

  it('refuses a rejected archive under a new name, naming the version it was rejected as', () => {
    // v6.3.0 was rejected; its bytes come back as v6.3.1.
    const rejectedSha = 'ab'.repeat(32);
    const report = check(
      { baselineVersion: 'v6.2.0', candidateVersion: 'v6.3.1' },
      {
        activeVersion: 'v6.2.0',
        statuses: { 'v6.3.1': 'missing' },
        rejectedArchives: { [rejectedSha]: 'v6.3.0' },
      },
      { 'v6.2.0': shaOf('v6.2.0'), 'v6.3.1': rejectedSha },
    );
    expect(report.outcome).toBe('fail');
    expect(report.problems).toEqual([
      expect.objectContaining({ field: 'prod.candidateVersion', value: 'v6.3.1' }),
    ]);
    expect(report.problems[0]!.message).toContain('rejected in prod as "v6.3.0"');
    expect(report.problems[0]!.message).toContain(`/mlinference/prod/model/rejected/${rejectedSha}`);
    expect(report.archives).toEqual({ 'v6.2.0': shaOf('v6.2.0'), 'v6.3.1': rejectedSha });
  });

  it('fails when a version has no archive to compare, or an unreadable registry document', () => {
    const versions = { baselineVersion: 'v6.2.0', candidateVersion: 'v6.3.0' };
    const noArchive = check(
      versions,
      { activeVersion: 'v6.2.0', statuses: {} },
      { 'v6.2.0': shaOf('v6.2.0') },
    );
    expect(noArchive.problems.map((p) => p.message)).toEqual([
      expect.stringContaining('prod.candidateVersion "v6.3.0": its model archive was not found'),
    ]);
    const unreadable = check(versions, { activeVersion: 'v6.2.0', statuses: { 'v6.3.0': 'unreadable' } });
    expect(unreadable.outcome).toBe('fail');
    expect(unreadable.problems[0]!.message).toContain('/versions/v6.3.0 exists but has no readable status');
  });

  it('passes a stage with nothing recorded yet and says so', () => {
    const report = check({ baselineVersion: 'v6.0.0', candidateVersion: 'v6.1.0' }, { statuses: {} });
    expect(report.outcome).toBe('pass');
    expect(report.registry.activeVersion).toBeNull();
    expect(report.notes[0]).toMatch(/no recorded decision yet/);
  });
});

describe('config/model-versions.json', () => {
  const valid = { dev: { baselineVersion: 'v6.0.0', candidateVersion: 'v6.1.0' } };
  it('names every bad field', () => {
    const text = JSON.stringify({
      ...valid,
      prod: {
        baselineVersion: '1.0',
        candidateVersion: 'v6.1.0',
        rollback: { toVersion: 'v6.1.0', reason: 'x' },
      },
    });
    expect(() => parseModelVersions(text)).toThrow(ModelVersionsError);
    try {
      parseModelVersions(text);
    } catch (error) {
      expect((error as ModelVersionsError).problems).toEqual([
        'prod.baselineVersion: "1.0" is not a version such as "v1.0.0" (v<major>.<minor>.<patch>, no leading zeros)',
        'prod.rollback: must be {"toVersion": "<baselineVersion>", "reason": "<why, at least 10 characters>"}',
      ]);
    }
  });

  it('refuses a version with leading zeros, which would order equal to another name', () => {
    const text = JSON.stringify({
      ...valid,
      prod: { baselineVersion: 'v6.3.0', candidateVersion: 'v6.3.00' },
    });
    expect(() => parseModelVersions(text)).toThrow(/prod\.candidateVersion: "v6\.3\.00" is not a version/);
    for (const version of ['v06.0.0', 'v6.03.0', 'v6.3.00', 'v6.3', '1.3.0', 'v6.3.0-rc1'])
      expect(isModelVersion(version)).toBe(false);
    for (const version of ['v0.0.0', 'v6.3.0', 'v10.20.300']) expect(isModelVersion(version)).toBe(true);
    expect(compareVersions('v6.3.00', 'v6.3.0')).toBeUndefined();
  });

  it('requires a rollback to name the baseline it goes back to', () => {
    const text = JSON.stringify({
      ...valid,
      prod: {
        baselineVersion: 'v6.0.0',
        candidateVersion: 'v6.0.0',
        rollback: { toVersion: 'v6.1.0', reason: 'a long enough reason' },
      },
    });
    expect(() => parseModelVersions(text)).toThrow(
      /prod\.rollback\.toVersion: "v6\.1\.0" must equal prod\.baselineVersion \("v6\.0\.0"\) or, to propose an older candidate on purpose, prod\.candidateVersion/,
    );
  });
});
