import type { PeriodMetrics } from '../../services/rollout/judge';
import {
  firstMinuteReference,
  referenceHourSettledAt,
  referenceWindow,
} from '../../services/rollout/latency-reference';

const T0 = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;

describe('the hour before the rollout', () => {
  it('ends at the rollout start floored to the minute and lasts one 3600 s period', () => {
    expect(referenceWindow(Date.UTC(2026, 0, 1, 12, 34, 56, 789))).toEqual({
      start: new Date(Date.UTC(2026, 0, 1, 11, 34)),
      end: new Date(Date.UTC(2026, 0, 1, 12, 34)),
      periodSeconds: 3600,
    });
  });

  it('is settled once its last minute is published', () => {
    expect(referenceHourSettledAt(Date.UTC(2026, 0, 1, 12, 34, 56), 3)).toBe(Date.UTC(2026, 0, 1, 12, 37));
  });
});

describe('the first rollout minute as reference', () => {
  it('ignores minutes before the rollout’s first whole minute and figures that are no latency', () => {
    const at = (minute: number, p50: number | null, p99: number | null): PeriodMetrics => ({
      start: T0 + minute * MINUTE,
      baseline: { invocations: 100, errors: 0, p50, p99 },
      canary: {},
    });
    const now = T0 + 30 * MINUTE;
    // Minute 0 began before the rollout (T0 + 20 s): it may hold another version's traffic.
    expect(firstMinuteReference([at(0, 40, 400), at(2, 41, 401)], T0 + 20_000, now, 3)).toEqual({
      p50: 41,
      p99: 401,
      periodStart: T0 + 2 * MINUTE,
      samples: 100,
    });
    expect(firstMinuteReference([at(3, 40, 30), at(1, 0, 10), at(5, 42, 420)], T0 + 20_000, now, 3)).toEqual({
      p50: 42,
      p99: 420,
      periodStart: T0 + 5 * MINUTE,
      samples: 100,
    });
    // Minute 26 closes at 00:27 and is published at 00:30 with a 3-minute lag, not with a 4-minute one.
    expect(firstMinuteReference([at(26, 40, 400)], T0 + 20_000, now, 3)).not.toBeNull();
    expect(firstMinuteReference([at(26, 40, 400)], T0 + 20_000, now - 1, 3)).toBeNull();
    expect(firstMinuteReference([at(26, 40, 400)], T0 + 20_000, now, 4)).toBeNull();
  });

  it('reports the minute’s latency sample count, or its invocations without one', () => {
    const minute: PeriodMetrics = {
      start: T0 + MINUTE,
      baseline: { invocations: 300, errors: 2, p50: 40, p99: 400, latencySamples: 298 },
      canary: {},
    };
    expect(firstMinuteReference([minute], T0, T0 + 10 * MINUTE, 3)?.samples).toBe(298);
    const withoutSamples = { ...minute, baseline: { ...minute.baseline, latencySamples: null } };
    expect(firstMinuteReference([withoutSamples], T0, T0 + 10 * MINUTE, 3)?.samples).toBe(300);
  });
});
