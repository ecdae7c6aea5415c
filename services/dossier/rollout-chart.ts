/**
 * The canary rollout chart: canary weight, per-variant error rate and p99 latency per minute, and a
 * marker for each judge decision, as one inline SVG drawn from the rollout's recorded decisions.
 */
import { escapeHtml } from './escape';
import type { DecisionRecord, RolloutRecord, VariantMinute } from './rollout-record';

const WIDTH = 760;
const LEFT = 64;
const RIGHT = 16;
const PANEL = 110;
const GAP = 34;
const TOP = 24;
const COLORS = {
  baseline: '#1f6fb2',
  canary: '#d9590b',
  wait: '#8a8a8a',
  promote: '#1b8a3a',
  rollback: '#c62828',
};

/** One complete minute as the decisions saw it (the newest decision about a minute wins). */
export interface ChartMinute {
  readonly minute: string;
  readonly baseline: VariantMinute;
  readonly canary: VariantMinute;
}

/** The complete minutes of a rollout, in time order, one per minute. */
export function chartMinutes(decisions: readonly DecisionRecord[]): ChartMinute[] {
  const byMinute = new Map<string, ChartMinute>();
  for (const d of decisions) {
    if (d.minute && d.baseline && d.canary) {
      byMinute.set(d.minute, { minute: d.minute, baseline: d.baseline, canary: d.canary });
    }
  }
  return [...byMinute.values()].sort((a, b) => Date.parse(a.minute) - Date.parse(b.minute));
}

const rate = (m: VariantMinute): number | null =>
  m.invocations > 0 ? (100 * m.errors) / m.invocations : null;
const esc = escapeHtml;
const fmt = (n: number): string => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

/** Renders the chart; `undefined` when the rollout recorded no decision (already promoted). */
export function rolloutChartSvg(record: RolloutRecord): string | undefined {
  const decisions = [...record.decisions].sort((a, b) => Date.parse(a.judgedAt) - Date.parse(b.judgedAt));
  if (decisions.length === 0) return undefined;
  const minutes = chartMinutes(decisions);
  const times = [
    Date.parse(record.startedAt),
    Date.parse(record.finishedAt),
    ...decisions.map((d) => Date.parse(d.judgedAt)),
    ...minutes.map((m) => Date.parse(m.minute)),
  ].filter(Number.isFinite);
  if (times.length === 0) return undefined;
  const t0 = Math.min(...times);
  const t1 = Math.max(...times, t0 + 60_000);
  const x = (t: number): number => LEFT + ((t - t0) / (t1 - t0)) * (WIDTH - LEFT - RIGHT);
  const height = TOP + 3 * PANEL + 2 * GAP + 40;
  const parts: string[] = [];

  const panel = (
    index: number,
    title: string,
    unit: string,
    max: number,
    series: { name: string; color: string; points: [number, number | null][]; step?: boolean }[],
  ): void => {
    const top = TOP + index * (PANEL + GAP);
    const y = (v: number): number => top + PANEL - (v / max) * PANEL;
    parts.push(`<g class="panel" data-panel="${esc(title)}">`);
    parts.push(`<text x="${LEFT}" y="${top - 8}" class="title">${esc(title)}</text>`);
    parts.push(
      `<rect x="${LEFT}" y="${top}" width="${WIDTH - LEFT - RIGHT}" height="${PANEL}" class="frame"/>`,
    );
    for (const v of [0, max / 2, max]) {
      parts.push(
        `<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" class="grid"/>`,
      );
      parts.push(
        `<text x="${LEFT - 6}" y="${(y(v) + 4).toFixed(1)}" class="tick" text-anchor="end">${fmt(v)}${unit}</text>`,
      );
    }
    for (const s of series) {
      let d = '';
      let pen = false;
      for (const [t, v] of s.points) {
        if (v === null) {
          pen = false;
          continue;
        }
        const px = x(t).toFixed(1);
        const py = y(v).toFixed(1);
        if (!pen) d += `M${px},${py}`;
        else d += s.step ? `H${px}V${py}` : `L${px},${py}`;
        pen = true;
      }
      if (s.step && pen) d += `H${x(t1).toFixed(1)}`;
      if (d)
        parts.push(
          `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2" data-series="${esc(s.name)}"/>`,
        );
      for (const [t, v] of s.points) {
        if (v !== null && !s.step)
          parts.push(`<circle cx="${x(t).toFixed(1)}" cy="${y(v).toFixed(1)}" r="2.5" fill="${s.color}"/>`);
      }
    }
    parts.push('</g>');
  };

  const niceMax = (values: number[], floor: number): number => {
    const m = Math.max(floor, ...values);
    const magnitude = 10 ** Math.floor(Math.log10(m));
    return Math.ceil((m * 1.1) / magnitude) * magnitude;
  };
  const minuteTimes = minutes.map((m) => Date.parse(m.minute));
  const weightPoints: [number, number][] = [[t0, decisions[0].canaryWeight]];
  for (const d of decisions) {
    const at = Date.parse(d.judgedAt);
    weightPoints.push([at, d.canaryWeight]);
    // A decision takes effect at once: promote moves to the next step, rollback to 0 %.
    const next =
      d.verdict === 'promote'
        ? record.policy.steps[d.stepIndex + 1]
        : d.verdict === 'rollback'
          ? 0
          : undefined;
    if (next !== undefined) weightPoints.push([at, next]);
  }
  const finalWeight = record.outcome === 'promoted' || record.outcome === 'already-promoted' ? 100 : 0;
  weightPoints.push([Date.parse(record.finishedAt), finalWeight]);
  panel(0, 'Canary weight', '%', 100, [
    { name: 'canary weight', color: COLORS.canary, points: weightPoints, step: true },
  ]);

  const rates = minutes
    .flatMap((m) => [rate(m.baseline), rate(m.canary)])
    .filter((v): v is number => v !== null);
  panel(1, 'Error rate per minute (5xx ÷ invocations)', '%', niceMax(rates, 1), [
    {
      name: 'baseline error rate',
      color: COLORS.baseline,
      points: minutes.map((m, i) => [minuteTimes[i], rate(m.baseline)]),
    },
    {
      name: 'canary error rate',
      color: COLORS.canary,
      points: minutes.map((m, i) => [minuteTimes[i], rate(m.canary)]),
    },
  ]);
  const latencies = minutes
    .flatMap((m) => [m.baseline.p99Ms, m.canary.p99Ms])
    .filter((v): v is number => v !== null);
  panel(2, 'Model latency p99 per minute', ' ms', niceMax(latencies, 10), [
    {
      name: 'baseline p99',
      color: COLORS.baseline,
      points: minutes.map((m, i) => [minuteTimes[i], m.baseline.p99Ms]),
    },
    {
      name: 'canary p99',
      color: COLORS.canary,
      points: minutes.map((m, i) => [minuteTimes[i], m.canary.p99Ms]),
    },
  ]);

  // One marker per decision across the three panels; promote and rollback drawn solid.
  const bottom = TOP + 3 * PANEL + 2 * GAP;
  for (const d of decisions) {
    const px = x(Date.parse(d.judgedAt)).toFixed(1);
    const color = COLORS[d.verdict] ?? COLORS.wait;
    const label = `${d.judgedAt.slice(11, 16)} ${d.verdict} at ${d.canaryWeight}%: ${d.reason}`;
    parts.push(
      `<g class="decision" data-verdict="${esc(d.verdict)}"><title>${esc(label)}</title>` +
        `<line x1="${px}" x2="${px}" y1="${TOP}" y2="${bottom}" stroke="${color}" stroke-width="${d.verdict === 'wait' ? 1 : 2}"${d.verdict === 'wait' ? ' stroke-dasharray="3,3" opacity="0.6"' : ''}/>` +
        `<path d="M${px},${TOP - 2}l-4,-7h8z" fill="${color}"/></g>`,
    );
  }
  const startLabel = new Date(t0).toISOString().slice(11, 16);
  const endLabel = new Date(t1).toISOString().slice(11, 16);
  const axisY = bottom + 14;
  parts.push(`<text x="${LEFT}" y="${axisY}" class="tick">${startLabel} UTC</text>`);
  parts.push(`<text x="${WIDTH - RIGHT}" y="${axisY}" class="tick" text-anchor="end">${endLabel} UTC</text>`);
  const legend: [string, string][] = [
    ['baseline', COLORS.baseline],
    ['canary', COLORS.canary],
    ['wait', COLORS.wait],
    ['promote', COLORS.promote],
    ['rollback', COLORS.rollback],
  ];
  legend.forEach(([name, color], i) => {
    const lx = LEFT + 90 + i * 95;
    parts.push(
      `<rect x="${lx}" y="${axisY + 10}" width="12" height="4" fill="${color}"/><text x="${lx + 16}" y="${axisY + 16}" class="tick">${name}</text>`,
    );
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="rollout-chart" viewBox="0 0 ${WIDTH} ${height + 26}" role="img" ` +
    `aria-label="Canary weight, error rate and p99 latency per minute for ${esc(record.endpointName)}, with ${decisions.length} judge decisions">` +
    '<style>.title{font:600 12px system-ui,sans-serif;fill:#222}.tick{font:10px system-ui,sans-serif;fill:#555}' +
    '.frame{fill:#fafafa;stroke:#ccc}.grid{stroke:#e4e4e4}</style>' +
    parts.join('') +
    '</svg>'
  );
}
