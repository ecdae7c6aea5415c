import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import {
  compareMae,
  evaluatePair,
  EvaluationError,
  type ModelAnswer,
  type ScoringModel,
} from '../../services/evaluation/evaluate';
import {
  normalQuantile,
  pairedMeanInterval,
  pairedProportionInterval,
  studentQuantile,
} from '../../services/evaluation/paired-test';
import { parseEvaluationRows, unionRows } from '../../services/evaluation/rows';
import { evaluateVersions, formatReport } from '../../services/evaluation/run';
import { loadModelMetadata } from '../../services/model/artifacts';
import { addWithBuilder, fixtureRows, writeFixturePackage } from '../support/quality-models';

describe('paired intervals', () => {
  it('has the textbook quantiles', () => {
    expect(normalQuantile(0.95)).toBeCloseTo(1.644854, 5);
    expect(studentQuantile(0.95, 10)).toBeCloseTo(1.812461, 5);
    expect(studentQuantile(0.95, 2)).toBeCloseTo(2.919986, 5);
  });

  it('stays informative with no discordant rows, and narrows with more rows', () => {
    const few = pairedProportionInterval({ bothRight: 28, baselineOnly: 0, candidateOnly: 0, bothWrong: 0 });
    const many = pairedProportionInterval({
      bothRight: 2800,
      baselineOnly: 0,
      candidateOnly: 0,
      bothWrong: 0,
    });
    expect(few.lower).toBeLessThan(-0.04);
    expect(few.upper).toBeGreaterThan(0.04);
    expect(many.upper - many.lower).toBeLessThan(0.01);
  });

  it('centres on the paired difference', () => {
    const interval = pairedProportionInterval({
      bothRight: 900,
      baselineOnly: 80,
      candidateOnly: 20,
      bothWrong: 0,
    });
    expect((interval.lower + interval.upper) / 2).toBeCloseTo(-0.06, 3);
    expect(interval.upper).toBeLessThan(-0.04);
  });

  it('gives no t interval for one row', () => {
    expect(pairedMeanInterval([1])).toBeUndefined();
    const interval = pairedMeanInterval([1, 2, 3, 4]);
    expect(interval?.lower).toBeCloseTo(2.5 - 2.353363 * Math.sqrt(5 / 3 / 4), 5);
  });
});

describe('evaluation rows', () => {
  it('parses label and value rows and names the bad line', () => {
    expect(parseEvaluationRows('{"features":[1],"label":"a"}\n\n{"features":[2],"value":3}\n', 'f')).toEqual([
      { features: [1], label: 'a' },
      { features: [2], value: 3 },
    ]);
    expect(() => parseEvaluationRows('{"features":[1]}', 'f.jsonl')).toThrow(
      /f.jsonl:1: needs exactly one of/,
    );
    expect(() => parseEvaluationRows('{"features":[1],"label":"a"}\nnope', 'f.jsonl')).toThrow(
      /f.jsonl:2: not valid JSON/,
    );
  });

  it('takes the union as multisets: a shared split counts once, a duplicate inside one split stays', () => {
    const a = { features: [1], label: 'x' };
    const b = { features: [2], label: 'y' };
    const c = { features: [3], label: 'x' };
    expect(
      unionRows([
        [a, a, b],
        [a, b, c],
      ]),
    ).toEqual([a, a, b, c]);
  });
});

function valueModel(version: string, predict: (x: number) => number): ScoringModel {
  return {
    metadata: { version, task: 'regression', featureNames: ['x'] },
    predict: async (rows) => rows.map((row): ModelAnswer => ({ value: predict(row[0]) })),
  };
}

describe('regression comparison', () => {
  const rows = Array.from({ length: 200 }, (_, i) => ({ features: [i / 10], value: i / 10 }));
  const noise = (x: number) => (Math.sin(x * 7.3) * 0.5 + 0.5) * 0.2;

  it('fails a candidate whose MAE is 30 % above the baseline (5 % margin)', async () => {
    const report = await evaluatePair({
      baseline: valueModel('v1', (x) => x + noise(x)),
      candidate: valueModel('v2', (x) => x + 1.3 * noise(x)),
      rows,
    });
    expect(report.comparison.outcome).toBe('fail');
    expect(report.passed).toBe(false);
    expect(report.metrics.candidate.mae).toBeCloseTo(1.3 * (report.metrics.baseline.mae ?? 0), 5);
  });

  it('shows non-inferiority for a candidate 2 % better', async () => {
    const report = await evaluatePair({
      baseline: valueModel('v1', (x) => x + noise(x)),
      candidate: valueModel('v2', (x) => x + 0.98 * noise(x)),
      rows,
    });
    expect(report.comparison.outcome).toBe('non-inferior');
    expect(report.passed).toBe(true);
  });

  it('compares |e_c| − (1 + r)|e_b| so the relative margin is applied row by row', () => {
    const truth = [0, 0, 0, 0];
    const values = (v: number[]) => v.map((value) => ({ value }));
    const comparison = compareMae(truth, values([1, 1.1, 0.9, 1]), values([1.04, 1.14, 0.94, 1.04]), 0.05);
    expect(comparison.threshold).toBeCloseTo(0.05, 10);
    expect(comparison.difference).toBeCloseTo(0.04, 10);
  });
});

describe('evaluateVersions on model packages', () => {
  let modelsDir: string;

  beforeAll(async () => {
    modelsDir = await mkdtemp(path.join(tmpdir(), 'evaluate-'));
    await Promise.all([
      writeFixturePackage(modelsDir, { version: 'v1.0.0' }),
      writeFixturePackage(modelsDir, { version: 'v1.0.1' }),
      writeFixturePackage(modelsDir, { version: 'v2.0.0', defect: { labelShift: 1 } }),
      writeFixturePackage(modelsDir, { version: 'v2.1.0', defect: { featureOrder: [1, 0] } }),
      writeFixturePackage(modelsDir, { version: 'v2.2.0', defect: { firstCentreShift: 0.1 } }),
      writeFixturePackage(modelsDir, { version: 'v3.0.0', rows: fixtureRows(30) }),
      writeFixturePackage(modelsDir, { version: 'v3.0.1', rows: fixtureRows(30) }),
    ]);
  });
  afterAll(() => rm(modelsDir, { recursive: true, force: true }));

  const evaluate = (baselineVersion: string, candidateVersion: string, strict = false) =>
    evaluateVersions({ modelsDir, baselineVersion, candidateVersion, strict });

  it('shows an equal candidate non-inferior on 300 rows', async () => {
    const report = await evaluate('v1.0.0', 'v1.0.1');
    expect(report).toMatchObject({
      rows: 300,
      passed: true,
      comparison: { outcome: 'non-inferior', difference: 0 },
    });
    expect(report.metrics.baseline).toMatchObject({
      accuracy: 1,
      perClassRecall: { alpha: 1, beta: 1, gamma: 1 },
    });
    expect(formatReport(report)).toMatch(/PASS: non-inferiority shown/);
  });

  it('refuses a candidate whose labels are shifted by one class', async () => {
    const report = await evaluate('v1.0.0', 'v2.0.0');
    expect(report).toMatchObject({ passed: false, comparison: { outcome: 'fail', candidate: 0 } });
    const logLoss = (m: object) => ('logLoss' in m ? Number(m.logLoss) : Number.NaN);
    expect(logLoss(report.metrics.candidate)).toBeGreaterThan(10 * logLoss(report.metrics.baseline));
  });

  it('refuses a candidate added by model:add with its labels in the wrong order (shifted by one class)', async () => {
    await addWithBuilder(modelsDir, 'v4.0.0');
    await addWithBuilder(modelsDir, 'v4.1.0', { labels: ['gamma', 'alpha', 'beta'] });
    const report = await evaluate('v4.0.0', 'v4.1.0');
    expect(report).toMatchObject({ rows: 120, passed: false, comparison: { outcome: 'fail', candidate: 0 } });
    // The builder measured the bug honestly too: the metadata says what the evaluation found.
    expect(loadModelMetadata('v4.1.0', modelsDir).evaluation?.metrics.accuracy).toBe(0);
  });

  it('refuses a candidate that reads the features in another order', async () => {
    const report = await evaluate('v1.0.0', 'v2.1.0');
    expect(report.passed).toBe(false);
    expect(report.comparison.candidate).toBeLessThan(0.5);
  });

  it('refuses a candidate 5 points worse', async () => {
    const report = await evaluate('v1.0.0', 'v2.2.0');
    expect(report.comparison).toMatchObject({ outcome: 'fail', baseline: 1, candidate: 0.95 });
    expect(report.comparison.interval?.upper).toBeLessThan(-0.01);
    expect(report.metrics.candidate).toMatchObject({ perClassRecall: { alpha: 1, beta: 0.85, gamma: 1 } });
  });

  it('passes an equal candidate on too few rows to show non-inferiority, and strict mode refuses it', async () => {
    const report = await evaluate('v3.0.0', 'v3.0.1');
    expect(report).toMatchObject({ rows: 30, passed: true, comparison: { outcome: 'inconclusive' } });
    expect(report.summary).toMatch(/too few rows/);
    expect((await evaluate('v3.0.0', 'v3.0.1', true)).passed).toBe(false);
  });

  it('scores both on the union of their splits', async () => {
    expect((await evaluate('v1.0.0', 'v3.0.0')).rows).toBe(330);
  });

  it('refuses to compare versions whose features differ', async () => {
    const other: ScoringModel = {
      metadata: { version: 'v9.0.0', featureNames: ['x1', 'x0'], labels: ['alpha', 'beta', 'gamma'] },
      predict: async () => [],
    };
    const same: ScoringModel = { ...other, metadata: { ...other.metadata, featureNames: ['x0', 'x1'] } };
    await expect(evaluatePair({ baseline: same, candidate: other, rows: fixtureRows(3) })).rejects.toThrow(
      EvaluationError,
    );
  });

  describe('npm run evaluate', () => {
    const run = (...args: string[]) =>
      promisify(execFile)('npx', ['tsx', 'scripts/evaluate.ts', '--models-dir', modelsDir, ...args]).then(
        (out) => ({ code: 0, ...out }),
        (error: { code: number; stdout: string; stderr: string }) => error,
      );

    it('exits 1 on a refused candidate and 0 on a passing one, and writes the JSON report', async () => {
      const out = path.join(modelsDir, 'reports', 'eval.json');
      const refused = await run('--baseline', 'v1.0.0', '--candidate', 'v2.0.0', '--out', out);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toMatch(/FAIL: the candidate's accuracy is worse/);
      expect(refused.stderr).toMatch(/may not deploy/);
      const passed = await run('--baseline', 'v1.0.0', '--candidate', 'v1.0.1', '--json');
      expect(passed.code).toBe(0);
      expect(JSON.parse(passed.stdout)).toMatchObject({ passed: true, candidateVersion: 'v1.0.1' });
    }, 60_000);

    it('exits 2 naming a bad flag value', async () => {
      const bad = await run('--baseline', 'v1.0.0', '--candidate', 'v1.0.1', '--margin-accuracy', 'x');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/--margin-accuracy must be a fraction/);
    }, 30_000);
  });
});
