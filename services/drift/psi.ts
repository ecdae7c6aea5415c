/** Training-set bins of one feature, as in `featureStats` of `models/<version>/metadata.json`. */
export interface FeatureBins {
  readonly name: string;
  /** Ascending edges, one more than `binFractions`. */
  readonly binEdges: readonly number[];
  /** Share of training rows per bin, summing to 1. */
  readonly binFractions: readonly number[];
}

/** Drift levels by PSI, the usual credit-scoring thresholds. */
export type DriftLevel = 'none' | 'moderate' | 'significant';

/** PSI below `moderate` is no drift; from `moderate` up to `significant` moderate; above `significant` significant. */
export const PSI_THRESHOLDS = { moderate: 0.1, significant: 0.25 } as const;

/** Threshold of the `DataDrift` alarm (max PSI over features): significant drift. */
export const DATA_DRIFT_ALARM_THRESHOLD = PSI_THRESHOLDS.significant;

/** Floor for a bin's share, so an empty bin adds a large but finite term instead of infinity. */
export const PSI_EPSILON = 1e-4;

/** Classifies a PSI value by {@link PSI_THRESHOLDS}. */
export function driftLevel(value: number): DriftLevel {
  if (value > PSI_THRESHOLDS.significant) return 'significant';
  if (value >= PSI_THRESHOLDS.moderate) return 'moderate';
  return 'none';
}

/**
 * Population stability index: Σ (a − e) · ln(a / e) over bins, with `e` the expected (training)
 * share and `a` the observed share; both floored at {@link PSI_EPSILON}.
 */
export function psi(expectedFractions: readonly number[], actualCounts: readonly number[]): number {
  if (expectedFractions.length !== actualCounts.length || expectedFractions.length === 0) {
    throw new RangeError(
      `psi needs as many counts (${actualCounts.length}) as fractions (${expectedFractions.length})`,
    );
  }
  const total = actualCounts.reduce((sum, c) => sum + c, 0);
  if (total === 0) throw new RangeError('psi needs at least one observation');
  let sum = 0;
  for (let i = 0; i < expectedFractions.length; i++) {
    const expected = Math.max(expectedFractions[i], PSI_EPSILON);
    const actual = Math.max(actualCounts[i] / total, PSI_EPSILON);
    sum += (actual - expected) * Math.log(actual / expected);
  }
  return sum;
}

/**
 * Counts values per bin. Bins are `[edge_i, edge_i+1)`, the last one closed; values outside the training
 * range fall into the first or last bin, as the training statistics clamp them.
 */
export function binCounts(values: readonly number[], edges: readonly number[]): number[] {
  const counts = new Array<number>(edges.length - 1).fill(0);
  for (const value of values) {
    let bin = 0;
    while (bin < counts.length - 1 && value >= edges[bin + 1]) bin++;
    counts[bin]++;
  }
  return counts;
}

/** PSI of one feature. */
export interface FeatureDrift {
  readonly feature: string;
  readonly psi: number;
  readonly level: DriftLevel;
}

/**
 * PSI per feature between feature rows and the model's training bins. Rows whose length differs from
 * the number of features are ignored (they were not scored by this model).
 */
export function featureDrift(
  featureStats: readonly FeatureBins[],
  rows: readonly (readonly number[])[],
): FeatureDrift[] {
  const usable = rows.filter((row) => row.length === featureStats.length);
  return featureStats.map((stats, index) => {
    const value = psi(
      stats.binFractions,
      binCounts(
        usable.map((row) => row[index]),
        stats.binEdges,
      ),
    );
    return { feature: stats.name, psi: value, level: driftLevel(value) };
  });
}
