/**
 * Small numerical helpers of the canary judge: log-gamma, log-sum-exp and per-variant dispersion.
 * Pure and dependency-free.
 */

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** log Γ(x) for x > 0 (Lanczos, g = 7; relative error < 1e-13). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let sum = LANCZOS[0];
  for (let i = 1; i < 9; i++) sum += LANCZOS[i] / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/**
 * The CV² of per-minute rate multipliers a Pearson dispersion implies, (φ − 1) ÷ errors a minute, over
 * the same periods; null without errors.
 */
export function cv2OfDispersion(
  dispersion: number,
  periods: readonly { readonly n: number; readonly e: number }[],
): number | null {
  let e = 0;
  let used = 0;
  for (const p of periods) {
    if (p.n <= 0) continue;
    e += p.e;
    used += 1;
  }
  return e > 0 ? (dispersion - 1) / (e / used) : null;
}

/** log Σ exp(terms), stable; −∞ for no terms or all −∞. */
export function logSumExp(terms: readonly number[]): number {
  let max = -Infinity;
  for (const term of terms) if (term > max) max = term;
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (const term of terms) sum += Math.exp(term - max);
  return max + Math.log(sum);
}

/**
 * Pearson dispersion of one variant's per-period error counts around its pooled rate:
 * Σ (e_t − n_t p̂)² / (n_t p̂ (1 − p̂)) over periods with traffic, divided by the degrees of freedom.
 * 1 is binomial noise; a multiplier that varies per minute with CV c gives ≈ 1 + c² × (errors per
 * minute). A few minutes estimate this badly, and an underestimate makes the tempered test
 * anti-conservative exactly where counts are large, so the estimate is shrunk towards the dispersion
 * of a world with CV² = `priorCv2` (1 unless something else is known), 1 + priorCv2 × (errors per
 * minute), with `priorMinutes` pseudo degrees of freedom: cautious early, data-driven after a few dozen
 * minutes. Floored at 1 (underdispersion is never credited).
 */
export function pearsonDispersion(
  periods: readonly { readonly n: number; readonly e: number }[],
  priorMinutes = 4,
  priorCv2 = 1,
): number {
  let n = 0;
  let e = 0;
  let used = 0;
  for (const p of periods) {
    if (p.n <= 0) continue;
    n += p.n;
    e += p.e;
    used += 1;
  }
  if (e <= 0 || e >= n) return 1;
  const rate = e / n;
  let chi2 = 0;
  for (const p of periods) {
    if (p.n <= 0) continue;
    const expected = p.n * rate;
    chi2 += (p.e - expected) ** 2 / (expected * (1 - rate));
  }
  const prior = 1 + priorCv2 * (e / used);
  return Math.max(1, (chi2 + priorMinutes * prior) / (Math.max(0, used - 1) + priorMinutes));
}

/** log of the equal-weight mixture of e-values given as logs. */
export function mixture(sums: readonly number[]): number {
  return logSumExp(sums.map((sum) => sum - Math.log(sums.length)));
}

/** `value` rounded to `digits` decimals for reports (non-finite values unchanged). */
export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value)) return value;
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
