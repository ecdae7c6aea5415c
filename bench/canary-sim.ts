/**
 * Random variates of the canary benchmark: Poisson counts, gamma rate multipliers (overdispersion),
 * beta-distributed order statistics (CloudWatch percentiles of lognormal latencies) and the inverse
 * normal CDF. Seeded through the caller's uniform generator, so runs are reproducible.
 */
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

/** Inverse of the standard normal CDF (P. J. Acklam's rational approximation, |error| < 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  if (p <= 0) return -Infinity;
  if (p >= 1) return Infinity;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    );
  }
  if (p > 1 - low) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return (
      -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    );
  }
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) /
    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
  );
}

/**
 * The probability levels of CloudWatch's p50 and p99 of `n` iid requests: the ⌈q·n⌉-th order statistics
 * of n uniforms, drawn jointly (the p99 is above the p50 of the same sample).
 */
export function percentileLevels(
  n: number,
  random: () => number,
): { readonly u50: number; readonly u99: number } {
  const k50 = Math.min(n, Math.max(1, Math.ceil(0.5 * n - 1e-9)));
  const k99 = Math.min(n, Math.max(1, Math.ceil(0.99 * n - 1e-9)));
  const u50 = beta(k50, n - k50 + 1, random);
  if (k99 === k50) return { u50, u99: u50 };
  // Given U(k50) = u, the order statistics above it are those of n − k50 uniforms on (u, 1).
  const rest = beta(k99 - k50, n - k99 + 1, random);
  return { u50, u99: u50 + (1 - u50) * rest };
}
