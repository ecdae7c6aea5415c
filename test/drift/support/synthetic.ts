import type { FeatureBins } from '../../../services/drift/psi';

/** Deterministic PRNG (mulberry32), so drift tests do not flake. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
