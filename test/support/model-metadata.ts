/**
 * `metadata.json` documents for test fixtures: a model's shape without its graph, for the components
 * that read only the metadata (smoke golden rows, traffic request sets, dossier). No shipped version.
 */

/** Fixture options: the task decides whether `labels` or `regressionBins` are written. */
export interface MetadataFixture {
  readonly version: string;
  readonly featureCount: number;
  /** Classifier labels; absent for a regressor. */
  readonly labels?: readonly string[];
  readonly golden: readonly ({ features: number[]; label: string } | { features: number[]; value: number })[];
}

/** A `metadata.json` value as `model:add` writes it (training statistics kept for older parsers). */
export function metadataDocument(fixture: MetadataFixture): Record<string, unknown> {
  const featureNames = Array.from({ length: fixture.featureCount }, (_, i) => `f${i}`);
  const common = {
    version: fixture.version,
    featureNames,
    featureCount: fixture.featureCount,
    featureStats: featureNames.map((name) => ({
      name,
      mean: 0,
      std: 1,
      min: -1,
      max: 1,
      binEdges: [-1, 0, 1],
      binFractions: [0.5, 0.5],
    })),
    golden: fixture.golden,
    training: { dataset: 'fixture', rows: 10, seed: 1, epochs: 1, accuracy: 0.9 },
  };
  return fixture.labels
    ? {
        ...common,
        task: 'classification',
        labels: fixture.labels,
        outputs: { probabilities: 'probabilities' },
      }
    : { ...common, task: 'regression', outputs: { value: 'value' }, regressionBins: [0, 1, 2] };
}
