import type { FeatureBins } from '../../../services/drift/psi';
import { mulberry32 as seeded } from '../../../scripts/seeded-random';

/** Rows whose features are drawn independently from each feature's training bins (uniform within a bin). */
export function sampleRows(stats: readonly FeatureBins[], count: number, seed: number): number[][] {
  const random = seeded(seed);
  const draw = (s: FeatureBins): number => {
    let u = random();
    let bin = 0;
    while (bin < s.binFractions.length - 1 && u >= s.binFractions[bin]) u -= s.binFractions[bin++];
    const low = s.binEdges[bin];
    const high = s.binEdges[bin + 1];
    return low + random() * (high - low) * 0.999;
  };
  return Array.from({ length: count }, () => stats.map(draw));
}
