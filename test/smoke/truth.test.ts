import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { LOCAL_ENDPOINT_NAME, stageVariants, startLocalService } from '../../services/local/service';
import type { VariantExchange } from '../../services/smoke/checks';
import { main } from '../../services/smoke/main';
import {
  answerDifference,
  checkCandidateAccuracy,
  checkServedMatchesOffline,
  servedAnswers,
  type TruthSet,
} from '../../services/smoke/truth';
import { addWithBuilder, writeFixturePackage } from '../support/quality-models';

describe('truth verdicts', () => {
  const rows = [
    { features: [1], label: 'a' },
    { features: [2], label: 'b' },
  ];
  const right = [
    { label: 'a', probabilities: [0.9, 0.1] },
    { label: 'b', probabilities: [0.2, 0.8] },
  ];
  const truth: TruthSet = { rows, offline: { v1: right, v2: right } };
  const served = (answers: unknown[]): Extract<VariantExchange, { ok: true }> => ({
    ok: true,
    invokedVariant: 'VariantB',
    body: { predictions: answers },
    latencyMs: 1,
  });

  it('tolerates float noise but not a changed label or probability', () => {
    expect(answerDifference({ label: 'a', probabilities: [0.90004, 0.1] }, right[0])).toBeUndefined();
    expect(answerDifference({ label: 'a', probabilities: [0.8, 0.2] }, right[0])).toMatch(/probabilities/);
    expect(answerDifference({ label: 'b', probabilities: [0.9, 0.1] }, right[0])).toMatch(
      /label b, offline a/,
    );
    expect(answerDifference({ value: 1.00005 }, { value: 1 })).toBeUndefined();
    expect(answerDifference({ value: 1.01 }, { value: 1 })).toMatch(/value 1.01, offline 1/);
  });

  it('refuses a variant that answers another variant, too few rows, or not at all', () => {
    expect(servedAnswers('VariantB', [{ ...served(right), invokedVariant: 'VariantA' }], [2])).toEqual({
      ok: false,
      error: 'asked for VariantB, answered by VariantA',
    });
    expect(servedAnswers('VariantB', [served(right.slice(1))], [2]).ok).toBe(false);
    expect(servedAnswers('VariantB', [{ ok: false, error: 'boom', latencyMs: 1 }], [2])).toMatchObject({
      ok: false,
      error: expect.stringMatching(/boom/),
    });
    const ok = servedAnswers('VariantB', [served(right)], [2]);
    expect(checkServedMatchesOffline('VariantB', 'v2', ok, truth)).toMatchObject({ ok: true });
  });

  it('fails a candidate the rows show worse by more than the margin, and not one a single row moved', () => {
    const many: TruthSet = { rows: Array.from({ length: 200 }, (_, i) => rows[i % 2]), offline: {} };
    const answers = (wrong: number) =>
      many.rows.map((row, i) => ({
        label: i < wrong ? 'x' : (row as { label: string }).label,
        probabilities: [0.5, 0.5],
      }));
    const baseline = { version: 'v1', served: { ok: true as const, answers: answers(0) } };
    const worse = { version: 'v2', served: { ok: true as const, answers: answers(20) } };
    expect(checkCandidateAccuracy(baseline, worse, many)).toMatchObject({
      ok: false,
      detail: expect.stringMatching(
        /candidate v2 accuracy 90.00 %, baseline v1 accuracy 100.00 % on 200 labelled rows, difference -10.00 pt \(90 % CI .*shown worse by more than the margin/,
      ),
    });
    const oneOff = { version: 'v2', served: { ok: true as const, answers: answers(1) } };
    expect(checkCandidateAccuracy(baseline, oneOff, many)).toMatchObject({
      ok: true,
      detail: expect.stringMatching(/not shown worse/),
    });
  });
});

describe('smoke truth check against npm start (candidates forced past the build)', () => {
  let modelsDir: string;
  let reports: string;

  beforeAll(async () => {
    modelsDir = await mkdtemp(path.join(tmpdir(), 'smoke-truth-models-'));
    reports = await mkdtemp(path.join(tmpdir(), 'smoke-truth-reports-'));
    await Promise.all([
      writeFixturePackage(modelsDir, { version: 'v1.0.0' }),
      writeFixturePackage(modelsDir, { version: 'v1.0.1' }),
      // model:add's builder with a label-encoding bug: the labels passed in the wrong order.
      addWithBuilder(modelsDir, 'v2.0.0', { labels: ['gamma', 'alpha', 'beta'] }),
      writeFixturePackage(modelsDir, { version: 'v2.1.0', defect: { featureOrder: [1, 0] } }),
      writeFixturePackage(modelsDir, { version: 'v2.3.0', servedDefect: { featureOrder: [1, 0] } }),
    ]);
  });
  afterAll(async () => {
    await rm(modelsDir, { recursive: true, force: true });
    await rm(reports, { recursive: true, force: true });
  });

  /** Serves baseline v1.0.0 at 100 % and the candidate at 0 %, runs the smoke CLI, stops. */
  async function smokeAgainst(candidate: string) {
    const service = await startLocalService({
      port: 0,
      logLevel: 'SILENT',
      modelsRoot: modelsDir,
      variants: stageVariants('v1.0.0', candidate),
    });
    try {
      const out: string[] = [];
      const err: string[] = [];
      const code = await main(
        [
          ...['--api-url', service.url, '--no-sign', '--region', 'us-east-1'],
          ...['--endpoint-name', LOCAL_ENDPOINT_NAME, '--runtime-url', service.runtimeUrl],
          ...['--models-dir', modelsDir, '--variants', `VariantA=v1.0.0,VariantB=${candidate}`],
          ...['--junit', path.join(reports, `${candidate}.xml`)],
        ],
        { out: (line) => out.push(line), err: (line) => err.push(line), env: {} },
      );
      return { code, out: out.join('\n'), err: err.join('\n') };
    } finally {
      await service.stop();
    }
  }

  it('passes an equal candidate: both variants reproduce the offline answers on all 300 rows', async () => {
    const run = await smokeAgainst('v1.0.1');
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    expect(run.out).toMatch(
      /^✓ truth-VariantA — \d+ ms — VariantA \(v1.0.0\) served the offline answer on all 300/m,
    );
    expect(run.out).toMatch(/^✓ truth-VariantB — .*accuracy 100.00 %/m);
    expect(run.out).toMatch(/^✓ truth-accuracy — /m);
  }, 60_000);

  it('fails the shifted-label candidate (made by model:add) on accuracy, though its own golden rows pass', async () => {
    const run = await smokeAgainst('v2.0.0');
    expect(run.code).toBe(1);
    expect(run.out).toMatch(/^✓ variant-VariantB — /m);
    expect(run.out).toMatch(/^✓ truth-VariantB — .*accuracy 0.00 %/m);
    expect(run.out).toMatch(
      /^✗ truth-accuracy — .*candidate v2.0.0 accuracy 0.00 %, baseline v1.0.0 accuracy 100.00 %.*shown worse by more than the margin/m,
    );
  }, 60_000);

  it('fails the feature-swapped candidate on accuracy', async () => {
    const run = await smokeAgainst('v2.1.0');
    expect(run.code).toBe(1);
    expect(run.out).toMatch(/^✓ variant-VariantB — /m);
    expect(run.out).toMatch(/^✗ truth-accuracy — .*candidate v2.1.0 accuracy \d\d?\.\d\d %/m);
  }, 60_000);

  it('fails a container that serves other answers than the evaluated model', async () => {
    const run = await smokeAgainst('v2.3.0');
    expect(run.code).toBe(1);
    expect(run.out).toMatch(
      /^✗ truth-VariantB — .*VariantB \(v2.3.0\) differs from the offline evaluation on \d+\/300 rows \(the container does not reproduce/m,
    );
  }, 60_000);
});
