import { mulberry32 } from '../../scripts/seeded-random';

/**
 * Seeded generator of hostile `POST /predict` bodies (and stream record payloads): edge-case
 * numbers written the ways JSON allows (exponents, signed zero, overflow and underflow literals),
 * wrong shapes and types, odd requestIds and plain garbage. The same seed gives the same bodies.
 */

/** Number literals at and past the limits of float32, float64, DynamoDB and lib-dynamodb. */
export const EDGE_NUMBER_LITERALS: readonly string[] = [
  '0',
  '-0',
  '0.0',
  '1',
  '-1',
  '5.1',
  '1e-45',
  '1.4e-45',
  '7e-46',
  '1e-46',
  '5e-324',
  '1e-200',
  '1e-130',
  '1e-129',
  '1.17549435e-38',
  '1e-38',
  '9007199254740991',
  '-9007199254740991',
  '9007199254740992',
  '9007199254740993',
  '1e15',
  '1e16',
  '-1e16',
  '1e30',
  '3.4028234663852886e38',
  '3.4028235e38',
  '3.5e38',
  '1e39',
  '-1e39',
  '1e125',
  '9.99e125',
  '1e126',
  '1.7976931348623157e308',
  '1e308',
  '1e400',
  '-1e400',
  '0.1234567890123456789012345678901234567890',
  '123456789012345678901234567890123456789',
  '1E2',
  '2.5E-3',
];

const garbageValues: readonly string[] = [
  'null',
  'true',
  '"5.1"',
  '[]',
  '[1]',
  '{}',
  '"NaN"',
  '"Infinity"',
  '""',
];

const requestIds: readonly string[] = [
  '"r-1"',
  '"a:b.c_d-e"',
  `"${'x'.repeat(128)}"`,
  `"${'x'.repeat(129)}"`,
  '""',
  '"a b"',
  '"é"',
  '"\\u0000"',
  '1',
  'null',
  '["r"]',
];

const garbageBodies: readonly string[] = [
  '',
  ' ',
  'null',
  '[]',
  '[5.1, 3.5, 1.4, 0.2]',
  '{"features":',
  '{"features": [1, 2, 3, 4]}}',
  '{"__proto__": {"features": [1, 2, 3, 4]}}',
  '{"features": [1, 2, 3, 4], "features": "x"}',
  '\u0000',
  '"features"',
  '{"features": [NaN, 1, 2, 3]}',
];

/** `count` bodies from `seed`; `featureCount` is what the model expects (most bodies have it). */
export function fuzzBodies(seed: number, count: number, featureCount: number): string[] {
  const random = mulberry32(seed);
  const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!;
  const value = () => {
    const roll = random();
    if (roll < 0.55) return ((random() - 0.5) * 20).toFixed(1 + Math.floor(random() * 4));
    return roll < 0.93 ? pick(EDGE_NUMBER_LITERALS) : pick(garbageValues);
  };
  return Array.from({ length: count }, () => {
    const roll = random();
    if (roll < 0.05) return pick(garbageBodies);
    const width = roll < 0.12 ? Math.floor(random() * (featureCount * 2 + 1)) : featureCount;
    const features = `[${Array.from({ length: width }, value).join(', ')}]`;
    const fields = [`"features": ${features}`];
    if (random() < 0.4) fields.push(`"requestId": ${pick(requestIds)}`);
    if (random() < 0.05) fields.push('"extra": 1');
    return `{${fields.join(', ')}}`;
  });
}
