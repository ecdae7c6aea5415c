import { newest, usablePeriods, type PeriodMetrics } from '../../../services/rollout/evidence/periods';

const T0 = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;
const minute = (i: number, nA: number, eA: number, nB: number, eB: number): PeriodMetrics => ({
  start: T0 + i * MINUTE,
  baseline: { invocations: nA, errors: eA },
  canary: { invocations: nB, errors: eB },
});
const read = (periods: PeriodMetrics[], now: number) =>
  usablePeriods({ periods, periodSeconds: 60, rolloutStartedAt: T0 }, now, 3, 0);

describe('usablePeriods', () => {
  it('uses a minute only once the publication lag has passed since it closed', () => {
    const periods = [minute(0, 100, 1, 10, 0), minute(1, 100, 1, 10, 0)];
    const atFour = read(periods, T0 + 4 * MINUTE);
    expect(atFour.periods.map((p) => p.start)).toEqual([T0]);
    expect(atFour.incomplete).toBe(1);
  });

  it('drops counter resets, duplicates and minutes from before the rollout instead of reading them', () => {
    const periods = [
      minute(-1, 100, 0, 0, 0),
      minute(0, 100, 101, 10, 0), // more errors than requests
      minute(1, 100, 1, 10, 0),
      minute(1, 100, 1, 10, 0),
      { start: T0 + 2 * MINUTE, baseline: { invocations: 100 }, canary: { invocations: 10, errors: 0 } },
      minute(3, 100, 1, 10, 2),
    ];
    const result = read(periods, T0 + 30 * MINUTE);
    expect(result.periods.map((p) => p.start)).toEqual([T0 + 3 * MINUTE]);
    expect(result.discarded).toBe(5);
  });

  it('holds back a minute whose latency sample count contradicts its invocations', () => {
    const partial: PeriodMetrics = {
      start: T0,
      baseline: { invocations: 100, errors: 0, latencySamples: 40, p50: 10, p99: 90 },
      canary: { invocations: 10, errors: 0 },
    };
    const result = read([partial], T0 + 30 * MINUTE);
    expect(result.periods).toEqual([]);
    expect(result.incomplete).toBe(1);
  });

  it('reports the newest minute used, or null without one', () => {
    const { periods } = read([minute(0, 100, 1, 10, 0), minute(1, 200, 2, 20, 1)], T0 + 30 * MINUTE);
    expect(newest(periods)).toMatchObject({ start: T0 + MINUTE, canary: { invocations: 20, errors: 1 } });
    expect(newest([])).toBeNull();
  });
});
