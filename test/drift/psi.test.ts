import {
  DATA_DRIFT_ALARM_THRESHOLD,
  PSI_EPSILON,
  binCounts,
  driftLevel,
  featureDrift,
  psi,
} from '../../services/drift/psi';
import { FIXTURE_BASELINE, FIXTURE_MODELS_DIR } from '../support/model-fixtures';
import { loadModelMetadata } from '../../services/model/artifacts';
import { sampleRows } from './support/synthetic';

test('psi is zero when the observed shares equal the expected ones', () => {
  expect(psi([0.25, 0.25, 0.5], [10, 10, 20])).toBeCloseTo(0, 12);
});

test('psi matches the textbook formula and stays finite for empty bins', () => {
  const expected = (0.5 - 0.2) * Math.log(0.5 / 0.2) + (0.5 - 0.8) * Math.log(0.5 / 0.8);
  expect(psi([0.2, 0.8], [5, 5])).toBeCloseTo(expected, 12);
  const empty = psi([0.5, 0.5], [10, 0]);
  expect(Number.isFinite(empty)).toBe(true);
  expect(empty).toBeCloseTo(
    (1 - 0.5) * Math.log(1 / 0.5) + (PSI_EPSILON - 0.5) * Math.log(PSI_EPSILON / 0.5),
    12,
  );
});

test('psi rejects mismatched bins and empty samples', () => {
  expect(() => psi([0.5, 0.5], [1])).toThrow(RangeError);
  expect(() => psi([0.5, 0.5], [0, 0])).toThrow('at least one observation');
});

test('binCounts puts edges in the upper bin, the max in the last bin and clamps outliers', () => {
  expect(binCounts([0, 0.5, 1, 1.5, 2, -5, 9], [0, 1, 2])).toEqual([3, 4]);
});

test('driftLevel follows the documented thresholds', () => {
  expect([0.05, 0.1, 0.25, 0.26].map(driftLevel)).toEqual(['none', 'moderate', 'moderate', 'significant']);
  expect(DATA_DRIFT_ALARM_THRESHOLD).toBe(0.25);
});

describe("featureDrift against a version's training bins", () => {
  const { featureStats } = loadModelMetadata(FIXTURE_BASELINE, FIXTURE_MODELS_DIR);

  test('data drawn like the training data stays below the moderate threshold', () => {
    const drift = featureDrift(featureStats, sampleRows(featureStats, 2000, 1));
    expect(drift.map((d) => d.feature)).toEqual(featureStats.map((s) => s.name));
    expect(Math.max(...drift.map((d) => d.psi))).toBeLessThan(0.1);
  });

  test('shifting one feature by one standard deviation raises that feature above the alarm threshold', () => {
    const shifted = sampleRows(featureStats, 2000, 2).map((row) =>
      row.map((v, i) => (i === 2 ? v + featureStats[2].std : v)),
    );
    const drift = featureDrift(featureStats, shifted);
    expect(drift[2]).toMatchObject({ feature: featureStats[2].name, level: 'significant' });
    expect(drift[2].psi).toBeGreaterThan(DATA_DRIFT_ALARM_THRESHOLD);
    expect(drift[0].psi).toBeLessThan(0.1);
  });

  test('rows of another length are ignored', () => {
    const rows = [...sampleRows(featureStats, 500, 3), [1, 2, 3]];
    expect(featureDrift(featureStats, rows)).toEqual(featureDrift(featureStats, rows.slice(0, 500)));
  });
});
