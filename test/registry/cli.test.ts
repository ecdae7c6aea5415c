import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SSMClient } from '@aws-sdk/client-ssm';
import { SsmRegistryReader } from '../../services/registry/adapters/registry';
import { runConverge, usage as convergeUsage } from '../../services/registry/converge-main';
import { runGuard, usage as guardUsage } from '../../services/registry/guard-main';
import { formatModelVersions } from '../../services/registry/model-versions';
import { testConfig } from '../support/cdk-app';
import { FIXTURE_MODELS_DIR } from '../support/model-fixtures';
import type { StageRegistry } from '../../services/registry/stage-registry';
import { startSsmStandIn, type SsmStandIn } from '../support/aws-json-stand-ins';
import { localCredentials, localRegion } from '../support/local-aws';

/**
 * The guard and converge commands against a Parameter Store stand-in, through the same SSM adapter
 * they use in the pipeline (so their GetParameter calls are recorded for test/iam).
 */
const prefix = '/mlinference/dev/model';
const doc = (version: string, status: string) =>
  JSON.stringify({ version, featureCount: 4, labels: [], status });

let promoted: SsmStandIn;
let rolledBack: SsmStandIn;
let empty: SsmStandIn;

beforeAll(async () => {
  [promoted, rolledBack, empty] = await Promise.all([
    startSsmStandIn({
      [`${prefix}/active-version`]: 'v2.1.0',
      [`${prefix}/versions/v2.0.0`]: doc('v2.0.0', 'baseline'),
      [`${prefix}/versions/v2.1.0`]: doc('v2.1.0', 'active'),
    }),
    startSsmStandIn({
      [`${prefix}/active-version`]: 'v2.0.0',
      [`${prefix}/versions/v2.0.0`]: doc('v2.0.0', 'baseline'),
      [`${prefix}/versions/v2.1.0`]: doc('v2.1.0', 'rejected'),
    }),
    startSsmStandIn({}),
  ]);
});

afterAll(() => Promise.all([promoted, rolledBack, empty].map((s) => s.close())));

function io(standIn: SsmStandIn) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: {
      out: (line: string) => out.push(line),
      err: (line: string) => err.push(line),
      env: {},
      now: () => new Date('2026-12-01T12:00:00Z'),
      modelsDir: FIXTURE_MODELS_DIR,
      config: testConfig,
      reader: (_registry: StageRegistry) =>
        new SsmRegistryReader(
          new SSMClient({ endpoint: standIn.url, region: localRegion, credentials: localCredentials }),
        ),
    },
  };
}

/** Both stages on the fixture baseline and candidate, whatever the shipped config/model-versions.json says. */
const BEFORE = formatModelVersions({
  dev: { baselineVersion: 'v2.0.0', candidateVersion: 'v2.1.0' },
  prod: { baselineVersion: 'v2.0.0', candidateVersion: 'v2.1.0' },
});

/** A scratch model versions file holding {@link BEFORE}. */
function scratchFile(): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'model-versions-')), 'model-versions.json');
  writeFileSync(file, BEFORE);
  return file;
}

describe('npm run converge', () => {
  it('--dry-run after a promotion: the promoted candidate becomes the baseline', async () => {
    const file = scratchFile();
    const run = io(promoted);
    expect(await runConverge(['--stage', 'dev', '--dry-run', '--file', file], run.io)).toBe(0);
    expect(run.out.join('\n')).toContain(`--- a/config/model-versions.json
+++ b/config/model-versions.json
@@ -1,10 +1,10 @@
 {
   "dev": {
-    "baselineVersion": "v2.0.0",
+    "baselineVersion": "v2.1.0",
     "candidateVersion": "v2.1.0"
   },
   "prod": {`);
    expect(run.out).toContain('converge: dev: v2.1.0 was promoted; it becomes the baseline');
    expect(readFileSync(file, 'utf8')).toBe(BEFORE);
  });

  it('--dry-run after a rollback: the rejected candidate is no longer proposed', async () => {
    const run = io(rolledBack);
    expect(await runConverge(['--stage', 'dev', '--dry-run', '--file', scratchFile()], run.io)).toBe(0);
    const diff = run.out.join('\n');
    expect(diff).toContain(`   "dev": {
     "baselineVersion": "v2.0.0",
-    "candidateVersion": "v2.1.0"
+    "candidateVersion": "v2.0.0"
   },`);
    expect(diff).not.toMatch(/^[-+] +"baselineVersion"/m);
  });

  it('--dry-run with nothing recorded yet changes nothing', async () => {
    const run = io(empty);
    expect(await runConverge(['--stage', 'dev', '--dry-run', '--file', scratchFile()], run.io)).toBe(0);
    expect(run.out).toEqual([
      `converge: reading ${prefix} in 222222222222 (us-east-1)`,
      `converge: dev: the registry records nothing yet (${prefix}/active-version does not exist)`,
      'converge: config/model-versions.json already says what dev serves; nothing to change',
    ]);
  });

  it('writes the converged file, after which the guard passes and converge has nothing left to do', async () => {
    const file = scratchFile();
    expect(await runConverge(['--stage', 'dev', '--file', file], io(promoted).io)).toBe(0);
    const written = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(written.dev).toEqual({ baselineVersion: 'v2.1.0', candidateVersion: 'v2.1.0' });
    const again = io(promoted);
    expect(await runConverge(['--stage', 'dev', '--file', file], again.io)).toBe(0);
    expect(again.out.at(-1)).toMatch(/nothing to change/);
    const report = path.join(path.dirname(file), 'guard.json');
    expect(await runGuard(['--stage', 'dev', '--file', file, '--report', report], io(promoted).io)).toBe(0);
  });

  it('explains what it needs when there are no credentials', async () => {
    const run = io(empty);
    const noCredentials = async () => {
      const error = new Error('Could not load credentials from any providers');
      error.name = 'CredentialsProviderError';
      throw error;
    };
    const code = await runConverge(['--stage', 'dev', '--dry-run', '--file', scratchFile()], {
      ...run.io,
      reader: () =>
        new SsmRegistryReader(
          new SSMClient({ endpoint: empty.url, region: localRegion, credentials: noCredentials }),
        ),
    });
    expect(code).toBe(1);
    expect(run.err.join('\n')).toContain('No AWS credentials found');
    expect(run.err.join('\n')).toContain('account 222222222222 (us-east-1)');
    expect(run.err.join('\n')).toContain(
      '--role-arn arn:aws:iam::222222222222:role/mlinference-dev-registry-reader',
    );
  });

  it('prints --help, and exits 2 naming an unknown flag', async () => {
    const help = io(empty);
    expect(await runConverge(['--help'], help.io)).toBe(0);
    expect(help.out).toEqual([convergeUsage]);
    const bad = io(empty);
    expect(await runConverge(['--stage', 'dev', '--force'], bad.io)).toBe(2);
    expect(bad.err.join('\n')).toContain("'--force'");
    expect(await runConverge(['--stage', 'qa'], bad.io)).toBe(2);
  });
});

describe('npm run guard', () => {
  it('fails a config written before dev promoted v2.1.0, naming the field, and writes the report', async () => {
    const file = scratchFile();
    const report = path.join(path.dirname(file), 'reports', 'guard.json');
    const run = io(promoted);
    const code = await runGuard(
      ['--stage', 'dev', '--file', file, '--report', report, '--commit', 'c0ffee'],
      run.io,
    );
    expect(code).toBe(1);
    expect(run.err[0]).toMatch(
      /^guard: FAIL dev\.baselineVersion: config\/model-versions\.json: dev\.baselineVersion is "v2\.0\.0" but dev serves "v2\.1\.0"/,
    );
    const written = JSON.parse(readFileSync(report, 'utf8')) as Record<string, unknown>;
    expect(written).toMatchObject({ stage: 'dev', outcome: 'fail', commit: 'c0ffee' });
    expect(promoted.calls.map((c) => c.input.Name)).toEqual(
      expect.arrayContaining([
        `${prefix}/active-version`,
        `${prefix}/versions/v2.0.0`,
        `${prefix}/versions/v2.1.0`,
      ]),
    );
  });

  it('fails a candidate dev rejected', async () => {
    const run = io(rolledBack);
    const report = path.join(mkdtempSync(path.join(os.tmpdir(), 'guard-')), 'guard.json');
    expect(await runGuard(['--stage', 'dev', '--file', scratchFile(), '--report', report], run.io)).toBe(1);
    expect(run.err[0]).toMatch(/^guard: FAIL dev\.candidateVersion: /);
  });

  it('passes an intended rollback read from the registry and records it in the report', async () => {
    const file = scratchFile();
    const versions = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const reason = 'v2.1.0 mislabels a customer segment (INC-42)';
    versions.dev = {
      baselineVersion: 'v2.0.0',
      candidateVersion: 'v2.0.0',
      rollback: { toVersion: 'v2.0.0', reason },
    };
    writeFileSync(file, JSON.stringify(versions));
    const report = path.join(path.dirname(file), 'guard.json');
    const run = io(promoted);
    expect(await runGuard(['--stage', 'dev', '--file', file, '--report', report], run.io)).toBe(0);
    expect(run.out.at(-1)).toMatch(/^guard: PASS dev \(intended rollback\)/);
    expect(JSON.parse(readFileSync(report, 'utf8'))).toMatchObject({
      outcome: 'pass',
      intendedRollback: { fromVersion: 'v2.1.0', toVersion: 'v2.0.0', reason },
    });
  });

  it('passes without reading when the pipeline says the stage was never deployed', async () => {
    const run = io(empty);
    const before = empty.calls.length;
    const report = path.join(mkdtempSync(path.join(os.tmpdir(), 'guard-')), 'guard.json');
    expect(
      await runGuard(
        ['--stage', 'dev', '--not-deployed', '--file', scratchFile(), '--report', report],
        run.io,
      ),
    ).toBe(0);
    expect(empty.calls.length).toBe(before);
    expect(JSON.parse(readFileSync(report, 'utf8'))).toMatchObject({
      outcome: 'pass',
      registry: { activeVersion: null },
    });
  });

  it('refuses a rejected archive renamed, by the SHA-256 the rollout recorded', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'guard-archives-'));
    const bytes = { 'v2.0.0': 'the model dev serves', 'v2.0.1': 'the bytes dev rejected as v1.9.0' };
    for (const [version, content] of Object.entries(bytes)) {
      mkdirSync(path.join(dir, 'models', version), { recursive: true });
      writeFileSync(path.join(dir, 'models', version, 'model.tar.gz'), content);
    }
    const file = path.join(dir, 'model-versions.json');
    const entry = { baselineVersion: 'v2.0.0', candidateVersion: 'v2.0.1' };
    writeFileSync(file, JSON.stringify({ dev: entry, prod: entry }));
    const sha = createHash('sha256').update(bytes['v2.0.1']).digest('hex');
    const registry = await startSsmStandIn({
      [`${prefix}/active-version`]: 'v2.0.0',
      [`${prefix}/versions/v2.0.0`]: doc('v2.0.0', 'active'),
      [`${prefix}/rejected/${sha}`]: JSON.stringify({
        version: 'v1.9.0',
        archiveSha256: sha,
        status: 'rejected',
      }),
    });
    try {
      const run = io(registry);
      const args = ['--stage', 'dev', '--file', file, '--models', path.join(dir, 'models')];
      expect(await runGuard([...args, '--report', path.join(dir, 'guard.json')], run.io)).toBe(1);
      expect(run.err[0]).toContain(
        'dev.candidateVersion "v2.0.1" has the model archive a canary rollout rejected in dev as "v1.9.0"',
      );
      expect(registry.calls.map((c) => c.input.Name)).toContain(`${prefix}/rejected/${sha}`);
    } finally {
      await registry.close();
    }
  });

  it('prints --help, and exits 2 naming an unknown flag', async () => {
    const help = io(empty);
    expect(await runGuard(['--help'], help.io)).toBe(0);
    expect(help.out).toEqual([guardUsage]);
    const bad = io(empty);
    expect(await runGuard(['--stage', 'dev', '--yolo'], bad.io)).toBe(2);
    expect(bad.err.join('\n')).toContain("'--yolo'");
  });
});
