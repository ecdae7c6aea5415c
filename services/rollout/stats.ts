/**
 * Small numerical helpers of the canary judge: log-gamma, log-sum-exp, the null probability of the
 * per-minute percentile comparison, and per-variant dispersion. Pure and dependency-free.
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

/** log Σ exp(terms), stable; −∞ for no terms or all −∞. */
export function logSumExp(terms: readonly number[]): number {
  let max = -Infinity;
  for (const term of terms) if (term > max) max = term;
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (const term of terms) sum += Math.exp(term - max);
  return max + Math.log(sum);
}

/** Rank of the order statistic CloudWatch reports as percentile `q` of `n` values (nearest rank). */
export function percentileRank(q: number, n: number): number {
  return Math.min(n, Math.max(1, Math.ceil(q * n - 1e-9)));
}

/**
 * P(X₍kB:nB₎ > Y₍kA:nA₎) for two independent samples of sizes nA and nB drawn from the SAME continuous
 * distribution: the chance that the canary's order statistic lies above the baseline's when the canary
 * is exactly the baseline (after scaling by the threshold). It depends on the ranks and sizes only, not
 * on the distribution, which is what makes the percentile comparison valid for any latency shape and
 * any traffic split.
 *
 * X₍kB₎ > y ⇔ fewer than kB of the nB values are ≤ y; with F(Y₍kA₎) ~ Beta(kA, nA − kA + 1) that count is
 * beta-binomial, so the probability is a beta-binomial CDF at kB − 1.
 */
export function orderStatisticAboveProbability(nA: number, kA: number, nB: number, kB: number): number {
  const a = kA;
  const b = nA - kA + 1;
  // Beta-binomial(nB, a, b) pmf ratios walked outwards from (near) the mode, relative to the mode's
  // term, then normalised by their sum: no log-gamma, and no underflow for thousands of requests.
  const mode = Math.min(nB, Math.max(0, Math.round((nB * (a - 1)) / Math.max(1, a + b - 2))));
  const up = (j: number) => ((nB - j) * (j + a)) / ((j + 1) * (nB - j - 1 + b)); // pmf(j+1)/pmf(j)
  let below = 0; // Σ_{j < kB} pmf(j) / pmf(mode)
  let total = 1;
  if (mode < kB) below += 1;
  let term = 1;
  for (let j = mode; j < nB; j++) {
    term *= up(j);
    if (term < 1e-17 * total) break;
    total += term;
    if (j + 1 < kB) below += term;
  }
  term = 1;
  for (let j = mode; j > 0; j--) {
    term /= up(j - 1);
    if (term < 1e-17 * total) break;
    total += term;
    if (j - 1 < kB) below += term;
  }
  return Math.min(1, Math.max(0, below / total));
}

/**
 * Pearson dispersion of one variant's per-period error counts around its pooled rate:
 * Σ (e_t − n_t p̂)² / (n_t p̂ (1 − p̂)) over periods with traffic, divided by the degrees of freedom.
 * 1 is binomial noise; a multiplier that varies per minute with CV c gives ≈ 1 + c² × (errors per
 * minute). A few minutes estimate this badly, and an underestimate makes the tempered test
 * anti-conservative exactly where counts are large, so the estimate is shrunk towards the dispersion
 * of a CV-1 world, 1 + (errors per minute), with `priorMinutes` pseudo degrees of freedom: cautious
 * early, data-driven after a few dozen minutes. Floored at 1 (underdispersion is never credited).
 */
export function pearsonDispersion(
  periods: readonly { readonly n: number; readonly e: number }[],
  priorMinutes = 4,
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
  const prior = 1 + e / used;
  return Math.max(1, (chi2 + priorMinutes * prior) / (Math.max(0, used - 1) + priorMinutes));
}
