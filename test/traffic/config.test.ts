import { isSyntheticCaller, syntheticCallerRoles } from '../../services/inference/synthetic';
import {
  DEV_ROLLOUT_TRAFFIC,
  PROD_ROLLOUT_TRAFFIC,
  requestsForMinute,
  trafficConfigProblems,
} from '../../services/traffic/config';

describe('requestsForMinute', () => {
  const topUp = { mode: 'top-up', requestsPerSecond: 2, floorRequestsPerMinute: 120 } as const;

  it('always sends rate × 60', () => {
    expect(requestsForMinute({ mode: 'always', requestsPerSecond: 5 }, 10_000)).toBe(300);
  });

  it('tops up to the floor, capped by the rate, and sends only the labelled stream above the floor', () => {
    // The labelled stream (60 a minute) is the least it sends.
    expect(requestsForMinute(topUp, 100)).toBe(60);
    expect(requestsForMinute({ ...topUp, labelledRequestsPerMinute: 0 }, 100)).toBe(20);
    expect(requestsForMinute(topUp, 12)).toBe(108);
    // 0.2 req/s organic (12/min) and none at all are both capped at 2/s = 120/min.
    expect(requestsForMinute(topUp, 0)).toBe(120);
    expect(requestsForMinute({ ...topUp, floorRequestsPerMinute: 600 }, 0)).toBe(120);
    expect(requestsForMinute(topUp, 500)).toBe(60);
    expect(requestsForMinute({ ...topUp, labelledRequestsPerMinute: 0 }, 500)).toBe(0);
    // No datapoint yet counts as no organic traffic.
    expect(requestsForMinute(topUp, undefined)).toBe(120);
  });

  it('sends only the labelled stream when off, nothing once that is 0 too', () => {
    expect(requestsForMinute({ mode: 'off', requestsPerSecond: 5 }, 0)).toBe(60);
    expect(requestsForMinute({ mode: 'off', requestsPerSecond: 5, labelledRequestsPerMinute: 0 }, 0)).toBe(0);
  });
});

describe('trafficConfigProblems', () => {
  it('accepts the defaults', () => {
    expect(trafficConfigProblems(DEV_ROLLOUT_TRAFFIC, 50)).toEqual([]);
    expect(trafficConfigProblems(PROD_ROLLOUT_TRAFFIC, 50)).toEqual([]);
  });

  it.each([
    [{ mode: 'always', requestsPerSecond: 0 }, /requestsPerSecond: 0 must be more than 0 and at most 20/],
    [{ mode: 'always', requestsPerSecond: 30 }, /at most 20/],
    [{ mode: 'always', requestsPerSecond: 10 }, /at most half the API throttle rate \(10\/s\)/, 10],
    [
      { mode: 'top-up', requestsPerSecond: 2 },
      /floorRequestsPerMinute: undefined must be a whole number >= 1/,
    ],
    [{ mode: 'always', requestsPerSecond: 2, floorRequestsPerMinute: 5 }, /only used with mode 'top-up'/],
    [
      { mode: 'off', requestsPerSecond: 1, labelledRequestsPerMinute: 1.5 },
      /labelledRequestsPerMinute: 1.5 must be a whole number/,
    ],
    [
      { mode: 'off', requestsPerSecond: 1, labelledRequestsPerMinute: 900 },
      /at most half the API throttle rate/,
      10,
    ],
    [{ mode: 'sometimes', requestsPerSecond: 2 }, /mode: 'sometimes' must be/],
  ] as [object, RegExp, number?][])('refuses %j', (config, message, limit = 50) => {
    expect(trafficConfigProblems(config as never, limit).join('\n')).toMatch(message);
  });
});

describe('isSyntheticCaller', () => {
  const roles = syntheticCallerRoles(
    ' arn:aws:iam::111111111111:role/ml-dev-rollout-traffic , ,arn:aws:iam::111111111111:role/ml-dev-smoke-test',
  );

  it("recognises a session of a listed role, by the caller's verified ARN", () => {
    expect(isSyntheticCaller('arn:aws:sts::111111111111:assumed-role/ml-dev-rollout-traffic/fn', roles)).toBe(
      true,
    );
    expect(
      isSyntheticCaller('arn:aws:sts::111111111111:assumed-role/ml-dev-smoke-test/smoke-42', roles),
    ).toBe(true);
  });

  it.each([
    ['another role', 'arn:aws:sts::111111111111:assumed-role/ml-dev-rollout-traffic-x/fn'],
    [
      'the same role name in another account',
      'arn:aws:sts::222222222222:assumed-role/ml-dev-rollout-traffic/fn',
    ],
    ['an IAM user', 'arn:aws:iam::111111111111:user/ml-dev-rollout-traffic'],
    ['no identity', undefined],
  ])('does not for %s', (_name, arn) => {
    expect(isSyntheticCaller(arn, roles)).toBe(false);
  });
});
