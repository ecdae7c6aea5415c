/**
 * Random variates of the canary benchmark: Poisson counts, gamma rate multipliers (overdispersion),
 * beta-distributed order statistics (CloudWatch percentiles of lognormal latencies) and the inverse
 * normal CDF. Seeded through the caller's uniform generator, so runs are reproducible.
 */
import { normalQuantile as standardNormalQuantile } from '../services/evaluation/paired-test';
import { logGamma } from '../services/rollout/stats';

/**
 * Poisson sample: multiplication method for small means, Hörmann's PTRS transformed rejection
 * (W. Hörmann, "The transformed rejection method for generating Poisson random variables", 1993)
 * for large ones, so R = 100 req/s costs the same as R = 1.
 */
export function poisson(mean: number, random: () => number): number {
  if (mean <= 0) return 0;
  if (mean < 30) {
    const limit = Math.exp(-mean);
    let k = 0;
    let p = random();
    while (p > limit) {
      k++;
      p *= random();
    }
    return k;
  }
  const slam = Math.sqrt(mean);
  const loglam = Math.log(mean);
  const b = 0.931 + 2.53 * slam;
  const a = -0.059 + 0.02483 * b;
  const invAlpha = 1.1239 + 1.1328 / (b - 3.4);
  const vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const u = random() - 0.5;
    const v = random();
    const us = 0.5 - Math.abs(u);
    const k = Math.floor(((2 * a) / us + b) * u + mean + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (
      Math.log(v) + Math.log(invAlpha) - Math.log(a / (us * us) + b) <=
      -mean + k * loglam - logGamma(k + 1)
    ) {
      return k;
    }
  }
}

/** Standard normal variate (Box–Muller). */
export function gaussian(random: () => number): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** Gamma(shape, 1) variate (Marsaglia–Tsang; shape < 1 by the boost u^(1/shape)). */
export function gamma(shape: number, random: () => number): number {
  if (shape < 1) return gamma(shape + 1, random) * Math.pow(1 - random(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = gaussian(random);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - random();
    if (u < 1 - 0.0331 * x ** 4) return d * v;
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** Beta(a, b) variate. */
export function beta(a: number, b: number, random: () => number): number {
  const x = gamma(a, random);
  const y = gamma(b, random);
  return x / (x + y);
}

/**
 * A per-minute rate multiplier with mean 1 and coefficient of variation `cv` (gamma with shape 1/cv²);
 * exactly 1 for cv = 0.
 */
export function rateMultiplier(cv: number, random: () => number): number {
  if (cv <= 0) return 1;
  const shape = 1 / (cv * cv);
  return gamma(shape, random) / shape;
}

/** Inverse of the standard normal CDF, open at the ends: a uniform draw of exactly 0 is -Infinity. */
export function normalQuantile(p: number): number {
  if (p <= 0) return -Infinity;
  if (p >= 1) return Infinity;
  return standardNormalQuantile(p);
}

/** Rank of the order statistic CloudWatch reports as percentile `q` of `n` values (nearest rank). */
function nearestRank(q: number, n: number): number {
  return Math.min(n, Math.max(1, Math.ceil(q * n - 1e-9)));
}

/**
 * The probability levels of CloudWatch's p50 and p99 of `n` iid requests: the ⌈q·n⌉-th order statistics
 * of n uniforms, drawn jointly (the p99 is above the p50 of the same sample).
 */
export function percentileLevels(
  n: number,
  random: () => number,
): { readonly u50: number; readonly u99: number } {
  const k50 = nearestRank(0.5, n);
  const k99 = nearestRank(0.99, n);
  const u50 = beta(k50, n - k50 + 1, random);
  if (k99 === k50) return { u50, u99: u50 };
  // Given U(k50) = u, the order statistics above it are those of n − k50 uniforms on (u, 1).
  const rest = beta(k99 - k50, n - k99 + 1, random);
  return { u50, u99: u50 + (1 - u50) * rest };
}

/** Standard normal CDF (W. J. Cody's erfc rational approximation via Numerical Recipes' erfcc, |error| < 1.2e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * x);
  const erfc =
    t *
    Math.exp(
      -x * x -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return z >= 0 ? 1 - erfc / 2 : erfc / 2;
}

/**
 * Binomial(n, p) variate, exact for every n: below 40 trials one uniform each; above, the k-th order
 * statistic U of n uniforms (a beta variate) splits the trials into those below and above it
 * (L. Devroye, "Non-uniform random variate generation", 1986, X.4), so R = 100 costs a few dozen draws.
 */
export function binomial(n: number, p: number, random: () => number): number {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  if (n < 40) {
    let k = 0;
    for (let i = 0; i < n; i++) if (random() < p) k++;
    return k;
  }
  const k = Math.floor((n + 1) / 2);
  const u = beta(k, n - k + 1, random);
  return u <= p ? k + binomial(n - k, (p - u) / (1 - u), random) : binomial(k - 1, p / u, random);
}

/** One variant's minute of `n` requests: probability levels of its p50 and p99, and counts at or below thresholds. */
export interface LatencyMinute {
  readonly u50: number;
  readonly u99: number;
  /** Requests at or below each threshold, for thresholds whose CDF values are `cdf` (ascending). */
  readonly atOrBelow: readonly number[];
}

/**
 * Draws a minute's threshold counts and its CloudWatch p50/p99 levels JOINTLY, as one sample of `n`
 * requests would give them: the counts per band between thresholds are multinomial (sequential
 * binomials), and each order statistic is then a beta-distributed order statistic of the uniforms in
 * its band (the p99 conditioned on the p50 when both fall into the same band).
 */
export function latencyMinute(n: number, cdf: readonly number[], random: () => number): LatencyMinute {
  const edges = [0, ...cdf, 1];
  const counts: number[] = [];
  let left = n;
  for (let i = 0; i + 1 < edges.length; i++) {
    const mass = edges[i + 1] - edges[i];
    const rest = 1 - edges[i];
    const c = i + 2 === edges.length ? left : binomial(left, rest > 0 ? Math.min(1, mass / rest) : 0, random);
    counts.push(c);
    left -= c;
  }
  const atOrBelow: number[] = [];
  let cumulative = 0;
  for (let i = 0; i < cdf.length; i++) {
    cumulative += counts[i];
    atOrBelow.push(cumulative);
  }
  const band = (r: number): { readonly index: number; readonly within: number } => {
    let below = 0;
    for (let i = 0; i < counts.length; i++) {
      if (r <= below + counts[i]) return { index: i, within: r - below };
      below += counts[i];
    }
    return { index: counts.length - 1, within: counts[counts.length - 1] };
  };
  const r50 = nearestRank(0.5, n);
  const r99 = nearestRank(0.99, n);
  const b50 = band(r50);
  const b99 = band(r99);
  const lo50 = edges[b50.index];
  const hi50 = edges[b50.index + 1];
  const c50 = counts[b50.index];
  const u50 = lo50 + (hi50 - lo50) * beta(b50.within, c50 - b50.within + 1, random);
  let u99: number;
  if (r99 === r50) u99 = u50;
  else if (b99.index === b50.index) {
    // Given the r50-th uniform of the band, those above it are uniforms on (u50, hi).
    const above = c50 - b50.within;
    const r = r99 - r50;
    u99 = u50 + (hi50 - u50) * beta(r, above - r + 1, random);
  } else {
    const lo = edges[b99.index];
    const hi = edges[b99.index + 1];
    u99 = lo + (hi - lo) * beta(b99.within, counts[b99.index] - b99.within + 1, random);
  }
  return { u50, u99, atOrBelow };
}
