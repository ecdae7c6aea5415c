/** The dossier as one Markdown page and one standalone HTML page (inline CSS and SVG, no scripts). */
import { describeShape, isFailedRollout, type Dossier } from './dossier';
import type { AcknowledgementEntry } from './compliance-changes';
import type { PermissionChange } from './infra-diff';
import { escapeHtml, escapeMarkdown } from './escape';
import { rolloutChartSvg } from './rollout-chart';

const esc = escapeHtml;
const md = escapeMarkdown;
const shortId = (id: string): string => id.slice(0, 12);
const when = (iso: string | null): string =>
  iso ? iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC') : '—';
const seconds = (s: number): string => (s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(2)} s`);

function commitLine(d: Dossier): string {
  const c = d.commit;
  return [
    md(shortId(c.id)),
    c.message ? `"${md(c.message.split('\n')[0])}"` : null,
    c.author ? `by ${md(c.author)}` : null,
    c.time ? `at ${md(when(c.time))}` : null,
  ]
    .filter(Boolean)
    .join(' ');
}

const ackReason = (a: AcknowledgementEntry): string => a.reasons.join(' / ');

/** Acknowledgement entries summed per pack and rule (the `[Action::...]` detail of IAM5 folded in). */
function byRule(entries: readonly AcknowledgementEntry[]) {
  const rules = new Map<
    string,
    { rule: string; resources: number; stages: Set<string>; requires: string | null }
  >();
  for (const a of entries) {
    const rule = `${a.pack}::${a.rule.replace(/\[.*\]$/, '')}`;
    const r = rules.get(rule) ?? { rule, resources: 0, stages: new Set<string>(), requires: a.requires };
    r.resources += 1;
    for (const s of a.stages) r.stages.add(s);
    rules.set(rule, r);
  }
  return [...rules.values()].map((r) => ({ ...r, stages: [...r.stages] }));
}
const flat = (s: string): string => s.replace(/\s*\n\s*/g, ', ');
const changeWord = (p: PermissionChange): string => (p.change === 'added' ? 'added or widened' : 'removed');
/** Plain text (the approval comment and the CLI's last line); not markup. */
const permissionSentence = (p: PermissionChange): string =>
  `${changeWord(p)}: ${p.effect} ${flat(p.action)} on ${flat(p.resource)}` +
  `${p.principal ? ` for ${flat(p.principal)}` : ''}${p.condition ? ` when ${flat(p.condition)}` : ''} (${p.stack})`;
/** A Markdown table row of escaped cells. */
const row = (cells: readonly (string | number)[]): string => `| ${cells.map(md).join(' | ')} |`;

const NOT_RECORDED = 'not recorded';
/** A metric value: accuracy as a percentage, MAE as a number. */
const figure = (metric: 'accuracy' | 'mae', v: number): string =>
  metric === 'accuracy' ? `${(v * 100).toFixed(2)} %` : v.toPrecision(4);
/** A difference: accuracy in points, MAE as a signed number. */
const delta = (metric: 'accuracy' | 'mae', v: number): string =>
  metric === 'accuracy'
    ? `${v >= 0 ? '+' : ''}${(v * 100).toFixed(2)} pt`
    : `${v >= 0 ? '+' : ''}${v.toPrecision(3)}`;
const share = (v: number | null | undefined): string =>
  v === null || v === undefined ? '—' : `${(v * 100).toFixed(1)} %`;

/** The rows of the quality section's tables as plain (unescaped) cells; each renderer escapes them. */
function qualityRows(d: Dossier) {
  const q = d.quality;
  const o = q.offline;
  const offline = o
    ? {
        heading: `${o.candidateVersion} against ${o.baselineVersion}: ${o.rows} labelled rows (${o.task}), paired, one-sided α = 0.05`,
        cells: [
          o.metric === 'accuracy' ? 'accuracy' : 'MAE',
          figure(o.metric, o.baseline),
          figure(o.metric, o.candidate),
          `${delta(o.metric, o.difference)}${o.interval ? ` (90 % CI ${delta(o.metric, o.interval.lower)} to ${delta(o.metric, o.interval.upper)})` : ''}`,
          o.metric === 'accuracy' ? `${delta(o.metric, o.threshold)}` : `+${o.threshold.toPrecision(3)}`,
          o.outcome === 'fail'
            ? 'FAIL'
            : o.outcome === 'non-inferior'
              ? 'pass: non-inferior'
              : 'pass: too few rows',
        ],
        passed: o.passed,
        summary: o.summary,
      }
    : null;
  const online = q.online;
  const variants = online
    ? (['baseline', 'canary'] as const).map((v) => [
        v === 'baseline' ? 'baseline (VariantA)' : 'candidate (VariantB)',
        `${share(online.accuracy[v])} of ${online.accuracy[v === 'baseline' ? 'baselineLabelled' : 'canaryLabelled']} labelled`,
        online.distribution.classes.map((c, i) => `${c} ${share(online.distribution[v]?.[i])}`).join(', ') ||
          '—',
      ])
    : null;
  return { offline, truth: q.smokeTruth, online, variants };
}

/** Renders the dossier as Markdown; every value escaped (escapeMarkdown). */
export function renderMarkdown(d: Dossier): string {
  const out: string[] = [];
  out.push(`# Release dossier: ${md(shortId(d.commit.id))}`, '');
  out.push(`**${md(d.headline)}**`, '');
  out.push(`- Commit: ${commitLine(d)}`);
  out.push(`- Pipeline execution: ${d.executionId ? md(d.executionId) : 'none (local run)'}`);
  out.push(
    `- Compared with: ${d.previous ? `release ${md(d.previous.id)} (commit ${md(shortId(d.previous.commit.id))}, recorded ${md(when(d.previous.recordedAt))})` : 'nothing (first release)'}`,
  );
  out.push(`- Models in dev: ${md(d.models.before ?? '?')} before, ${md(d.models.after ?? '?')} after`);
  for (const shape of d.modelShapes) out.push(`  - ${md(shape.version)}: ${md(describeShape(shape))}`);
  out.push(`- Generated: ${md(when(d.generatedAt))}`, '');

  const quality = qualityRows(d);
  out.push('## Model quality', '', '### Offline evaluation', '');
  if (!quality.offline) out.push(`Offline evaluation: ${NOT_RECORDED}.`);
  else {
    out.push(md(quality.offline.heading), '');
    out.push(
      '| metric | baseline | candidate | difference | margin | verdict |',
      '|---|---|---|---|---|---|',
    );
    out.push(row(quality.offline.cells), '', md(quality.offline.summary));
  }
  out.push('', '### Smoke test truth check', '');
  if (!quality.truth) out.push(`Smoke test truth check: ${NOT_RECORDED}.`);
  else if (quality.truth.length === 0) out.push('The smoke report has no truth checks.');
  else {
    out.push('| check | result | detail |', '|---|---|---|');
    for (const ch of quality.truth) out.push(row([ch.name, ch.passed ? 'pass' : 'FAIL', ch.detail]));
  }
  out.push('', '### Rollout: online accuracy and predicted classes', '');
  if (!quality.online || !quality.variants) out.push(`Online quality: ${NOT_RECORDED}.`);
  else {
    out.push('| variant | accuracy on labelled traffic | predicted classes |', '|---|---|---|');
    for (const v of quality.variants) out.push(row(v));
    out.push('', `Total variation between the distributions: ${md(share(quality.online.tv))}.`);
  }
  out.push('');

  out.push(`## Permission changes (${md(d.permissions.length)})`, '');
  if (d.previous === null) out.push('Compared against nothing: there is no earlier release to widen.');
  else if (d.permissions.length === 0) out.push('None.');
  else {
    out.push(
      '| change | stack | effect | principal | action | resource | condition |',
      '|---|---|---|---|---|---|---|',
    );
    for (const p of d.permissions)
      out.push(row([changeWord(p), p.stack, p.effect, p.principal, p.action, p.resource, p.condition]));
  }
  out.push('');

  out.push('## Infrastructure changes', '');
  if (d.infrastructure.comparedWith === null) {
    out.push('Compared against nothing. Stacks of this release:', '');
    for (const s of d.infrastructure.stacks) out.push(`- ${md(s.stack)}: ${md(s.resources)} resources`);
  } else {
    const changed = d.infrastructure.stacks.filter((s) => s.status !== 'unchanged');
    if (changed.length === 0) out.push(`No changes since release ${md(d.infrastructure.comparedWith)}.`);
    else {
      out.push(
        '| stack | status | added | removed | replaced | updated in place |',
        '|---|---|---|---|---|---|',
      );
      for (const s of changed)
        out.push(row([s.stack, s.status, s.added.length, s.removed.length, s.replaced.length, s.updated]));
      for (const s of changed) {
        if (s.added.length + s.removed.length + s.replaced.length === 0) continue;
        out.push('', `### ${md(s.stack)}`, '');
        for (const r of s.added) out.push(`- added ${md(r.type)} ${md(r.path ?? r.logicalId)}`);
        for (const r of s.removed) out.push(`- removed ${md(r.type)} ${md(r.path ?? r.logicalId)}`);
        for (const r of s.replaced)
          out.push(
            `- ${md(r.impact)} ${md(r.type)} ${md(r.path ?? r.logicalId)} (${md(r.properties.join(', ') || 'type change')})`,
          );
      }
    }
  }
  out.push('');

  const c = d.compliance;
  out.push('## Compliance', '');
  out.push(
    `Open findings: ${c.open.length === 0 ? 'none' : md(c.open.length)}. Acknowledgements in this release: ${md(c.acknowledgements)}.`,
    '',
  );
  for (const o of c.open)
    out.push(`- OPEN **${md(`${o.pack}::${o.rule}`)}** on ${md(o.path)}: ${md(o.description)}`);
  if (d.previous === null) {
    // Compared against nothing, every acknowledgement is new: one line per rule keeps the page readable.
    out.push('### Acknowledgements by rule (compared against nothing: all are new)', '');
    out.push('| rule | resources | stages | the rule requires |', '|---|---|---|---|');
    for (const r of byRule(c.added))
      out.push(row([r.rule, r.resources, r.stages.join(', '), r.requires ?? '—']));
    out.push('', 'Each acknowledgement with its reason is in dossier.json and `npm run acks`.', '');
  }
  const mdSections: [string, readonly AcknowledgementEntry[]][] = d.previous
    ? [
        ['New acknowledgements', c.added],
        ['Removed acknowledgements', c.removed],
      ]
    : [];
  for (const [title, list] of mdSections) {
    out.push(`### ${title} (${md(list.length)})`, '');
    if (list.length === 0) out.push('None.');
    else {
      out.push('| rule | resource | stages | reason | the rule requires |', '|---|---|---|---|---|');
      for (const a of list)
        out.push(
          row([`${a.pack}::${a.rule}`, a.resource, a.stages.join(', '), ackReason(a), a.requires ?? '—']),
        );
    }
    out.push('');
  }

  out.push('## Dev smoke test', '');
  if (!d.smoke) out.push('No smoke test report was given.');
  else {
    out.push(
      `${md(d.smoke.passed)} passed, ${md(d.smoke.failed)} failed in ${md(seconds(d.smoke.seconds))} (${md(when(d.smoke.timestamp))}).`,
      '',
    );
    out.push('| check | result | time | detail |', '|---|---|---|---|');
    for (const ch of d.smoke.checks)
      out.push(row([ch.name, ch.passed ? 'pass' : 'FAIL', seconds(ch.seconds), ch.detail]));
  }
  out.push('');

  out.push('## Dev canary rollout', '');
  const r = d.rollout;
  if (!r) out.push('No rollout record was given.');
  else if (isFailedRollout(r)) out.push(`**${md(r.outcome)}**: ${md(r.error)}: ${md(r.cause)}`);
  else {
    out.push(
      `**${md(r.outcome)}**: ${md(r.endpointName)}, ${md(r.baselineVersion)} → ${md(r.candidateVersion)}, ${md(r.minutes)} minutes ` +
        `(${md(when(r.startedAt))} to ${md(when(r.finishedAt))}), traffic source ${md(r.traffic)}, ${md(r.record.decisions.length)} decisions.`,
      '',
    );
    out.push('| step | canary weight | decisions | first judged | last verdict |', '|---|---|---|---|---|');
    for (const s of r.steps)
      out.push(row([s.index + 1, `${s.weight}%`, s.decisions, when(s.firstJudgedAt), s.verdict ?? '—']));
    const decisive = r.record.decisions.filter((x) => x.verdict !== 'wait');
    if (decisive.length > 0) {
      out.push('', 'Decisions that moved the rollout:', '');
      for (const x of decisive)
        out.push(`- ${md(when(x.judgedAt))} ${md(x.verdict)} at ${md(x.canaryWeight)}%: ${md(x.reason)}`);
    }
    out.push('', 'The chart of weight, error rate and latency per minute is in dossier.html.');
  }
  out.push('');
  return `${out.join('\n')}\n`;
}

const CSS = `
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1b1b1b;max-width:64rem;margin:0 auto;padding:1.5rem}
h1{font-size:1.5rem;margin:0 0 .5rem}h2{font-size:1.15rem;margin:1.8rem 0 .5rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
h3{font-size:1rem;margin:1.2rem 0 .4rem}
.headline{padding:.7rem 1rem;border-left:4px solid #1f6fb2;background:#eef5fb;font-weight:600}
.headline.widened{border-color:#c62828;background:#fdeeee}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:1rem 0}dl.facts dt{color:#555}dl.facts dd{margin:0;overflow-wrap:anywhere}
table{width:100%;border-collapse:collapse;table-layout:fixed;margin:.4rem 0}
th,td{border:1px solid #d6d6d6;padding:.3rem .45rem;text-align:left;vertical-align:top;overflow-wrap:anywhere;word-break:break-word}
th{background:#f3f3f3;font-weight:600}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;overflow-wrap:anywhere;word-break:break-all}
.added{color:#a4161a;font-weight:600}.removed{color:#1b6b34}.pass{color:#1b6b34;font-weight:600}.fail{color:#a4161a;font-weight:600}
.muted{color:#666}
svg.rollout-chart{width:100%;height:auto;display:block;margin:.6rem 0}
ul{padding-left:1.2rem}
`;

/** A cell of markup made here: values inside it are escaped by the caller. */
const td = (s: string, cls = ''): string => `<td${cls ? ` class="${esc(cls)}"` : ''}>${s}</td>`;
/** A code cell; the diff library puts one action or resource per line. */
const codeCell = (s: string): string =>
  td(
    s
      ? s
          .split('\n')
          .map((line) => `<code>${esc(line)}</code>`)
          .join('<br>')
      : '<span class="muted">—</span>',
  );
const table = (cols: readonly [string, string][], rows: string[]): string =>
  `<table><colgroup>${cols.map(([, w]) => `<col style="width:${w}">`).join('')}</colgroup>` +
  `<thead><tr>${cols.map(([h]) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;

/** Renders the dossier as a standalone HTML page; every value escaped (escapeHtml). */
export function renderHtml(d: Dossier): string {
  const b: string[] = [];
  const widened = d.permissions.some((p) => p.change === 'added');
  b.push(`<h1>Release dossier: <code>${esc(shortId(d.commit.id))}</code></h1>`);
  b.push(`<p class="headline${widened ? ' widened' : ''}" id="headline">${esc(d.headline)}</p>`);
  b.push('<dl class="facts">');
  const fact = (k: string, v: string): void => void b.push(`<dt>${esc(k)}</dt><dd>${v}</dd>`);
  fact('Commit', `<code>${esc(d.commit.id)}</code>`);
  if (d.commit.message) fact('Message', esc(d.commit.message.split('\n')[0]));
  fact(
    'Author',
    esc(
      [d.commit.author, d.commit.time ? when(d.commit.time) : null].filter(Boolean).join(', ') || 'unknown',
    ),
  );
  fact('Pipeline execution', d.executionId ? `<code>${esc(d.executionId)}</code>` : 'none (local run)');
  fact(
    'Compared with',
    d.previous
      ? `release <code>${esc(d.previous.id)}</code> (commit <code>${esc(shortId(d.previous.commit.id))}</code>, recorded ${esc(when(d.previous.recordedAt))})`
      : 'nothing: this is the first recorded release',
  );
  fact('Models in dev', `${esc(d.models.before ?? '?')} before → ${esc(d.models.after ?? '?')} after`);
  for (const shape of d.modelShapes) fact(`Model ${esc(shape.version)}`, esc(describeShape(shape)));
  fact('Generated', esc(when(d.generatedAt)));
  b.push('</dl>');

  const quality = qualityRows(d);
  b.push('<h2 id="quality">Model quality</h2>');
  b.push('<h3 id="quality-offline">Offline evaluation</h3>');
  if (!quality.offline) b.push(`<p class="muted">Offline evaluation: ${NOT_RECORDED}.</p>`);
  else {
    b.push(`<p>${esc(quality.offline.heading)}</p>`);
    const [metric, base, cand, diff, margin, verdict] = quality.offline.cells.map((cell) => esc(cell));
    b.push(
      table(
        [
          ['metric', '12%'],
          ['baseline', '13%'],
          ['candidate', '13%'],
          ['difference (90 % CI)', '30%'],
          ['margin', '12%'],
          ['verdict', '20%'],
        ],
        [
          `<tr class="offline">${td(metric)}${td(base)}${td(cand)}${td(diff)}${td(margin)}${td(verdict, quality.offline.passed ? 'pass' : 'fail')}</tr>`,
        ],
      ),
    );
    b.push(`<p class="${quality.offline.passed ? 'pass' : 'fail'}">${esc(quality.offline.summary)}</p>`);
  }
  b.push('<h3 id="quality-smoke">Smoke test truth check</h3>');
  if (!quality.truth) b.push(`<p class="muted">Smoke test truth check: ${NOT_RECORDED}.</p>`);
  else if (quality.truth.length === 0) b.push('<p class="muted">The smoke report has no truth checks.</p>');
  else
    b.push(
      table(
        [
          ['check', '22%'],
          ['result', '10%'],
          ['detail', '68%'],
        ],
        quality.truth.map(
          (ch) =>
            `<tr class="truth">${td(esc(ch.name))}${td(ch.passed ? 'pass' : 'FAIL', ch.passed ? 'pass' : 'fail')}${td(esc(ch.detail))}</tr>`,
        ),
      ),
    );
  b.push('<h3 id="quality-online">Rollout: online accuracy and predicted classes</h3>');
  if (!quality.online || !quality.variants) b.push(`<p class="muted">Online quality: ${NOT_RECORDED}.</p>`);
  else {
    b.push(
      table(
        [
          ['variant', '22%'],
          ['accuracy on labelled traffic', '30%'],
          ['predicted classes', '48%'],
        ],
        quality.variants.map((v) => `<tr class="online">${v.map((cell) => td(esc(cell))).join('')}</tr>`),
      ),
    );
    b.push(`<p>Total variation between the distributions: ${esc(share(quality.online.tv))}.</p>`);
  }

  b.push(`<h2 id="permissions">Permission changes (${esc(d.permissions.length)})</h2>`);
  if (d.previous === null) b.push('<p>Compared against nothing: there is no earlier release to widen.</p>');
  else if (d.permissions.length === 0) b.push('<p>None.</p>');
  else
    b.push(
      table(
        [
          ['change', '10%'],
          ['stack', '14%'],
          ['effect', '7%'],
          ['principal', '17%'],
          ['action', '18%'],
          ['resource', '22%'],
          ['condition', '12%'],
        ],
        d.permissions.map(
          (p) =>
            `<tr class="permission" data-change="${esc(p.change)}">${td(esc(changeWord(p)), p.change)}${td(esc(p.stack))}${td(esc(p.effect))}` +
            `${codeCell(p.principal)}${codeCell(p.action)}${codeCell(p.resource)}${codeCell(p.condition)}</tr>`,
        ),
      ),
    );

  b.push('<h2 id="infrastructure">Infrastructure changes</h2>');
  if (d.infrastructure.comparedWith === null) {
    b.push('<p>Compared against nothing. Stacks of this release:</p>');
    b.push(
      table(
        [
          ['stack', '70%'],
          ['resources', '30%'],
        ],
        d.infrastructure.stacks.map((s) => `<tr>${td(esc(s.stack))}${td(esc(s.resources))}</tr>`),
      ),
    );
  } else {
    const changed = d.infrastructure.stacks.filter((s) => s.status !== 'unchanged');
    if (changed.length === 0)
      b.push(`<p>No changes since release <code>${esc(d.infrastructure.comparedWith)}</code>.</p>`);
    else {
      b.push(
        table(
          [
            ['stack', '40%'],
            ['status', '12%'],
            ['added', '12%'],
            ['removed', '12%'],
            ['replaced', '12%'],
            ['updated', '12%'],
          ],
          changed.map(
            (s) =>
              `<tr>${td(esc(s.stack))}${td(esc(s.status))}${td(esc(s.added.length))}${td(esc(s.removed.length))}${td(esc(s.replaced.length))}${td(esc(s.updated))}</tr>`,
          ),
        ),
      );
      for (const s of changed) {
        if (s.added.length + s.removed.length + s.replaced.length === 0) continue;
        b.push(`<h3>${esc(s.stack)}</h3><ul>`);
        for (const r of s.added)
          b.push(
            `<li><span class="added">added</span> ${esc(r.type)} <code>${esc(r.path ?? r.logicalId)}</code></li>`,
          );
        for (const r of s.removed)
          b.push(
            `<li><span class="removed">removed</span> ${esc(r.type)} <code>${esc(r.path ?? r.logicalId)}</code></li>`,
          );
        for (const r of s.replaced)
          b.push(
            `<li><span class="added">${esc(r.impact)}</span> ${esc(r.type)} <code>${esc(r.path ?? r.logicalId)}</code> (${esc(r.properties.join(', ') || 'type change')})</li>`,
          );
        b.push('</ul>');
      }
    }
  }

  const c = d.compliance;
  b.push('<h2 id="compliance">Compliance</h2>');
  b.push(
    `<p>Open findings: <strong>${c.open.length === 0 ? 'none' : esc(c.open.length)}</strong>. Acknowledgements in this release: ${esc(c.acknowledgements)}.</p>`,
  );
  if (c.open.length > 0)
    b.push(
      `<ul>${c.open.map((o) => `<li class="fail">${esc(`${o.pack}::${o.rule}`)} on <code>${esc(o.path)}</code>: ${esc(o.description)}</li>`).join('')}</ul>`,
    );
  if (d.previous === null) {
    b.push(
      '<h3 id="acknowledgements-by-rule">Acknowledgements by rule (compared against nothing: all are new)</h3>',
    );
    b.push(
      table(
        [
          ['rule', '34%'],
          ['resources', '10%'],
          ['stages', '16%'],
          ['the rule requires', '40%'],
        ],
        byRule(c.added).map(
          (r) =>
            `<tr>${codeCell(r.rule)}${td(esc(r.resources))}${td(esc(r.stages.join(', ')))}${td(esc(r.requires ?? '—'))}</tr>`,
        ),
      ),
    );
    b.push(
      '<p class="muted">Each acknowledgement with its reason is in dossier.json and <code>npm run acks</code>.</p>',
    );
  }
  const htmlSections: [string, readonly AcknowledgementEntry[], string][] = d.previous
    ? [
        ['New acknowledgements', c.added, 'new-acknowledgements'],
        ['Removed acknowledgements', c.removed, 'removed-acknowledgements'],
      ]
    : [];
  for (const [title, list, id] of htmlSections) {
    b.push(`<h3 id="${id}">${esc(title)} (${esc(list.length)})</h3>`);
    if (list.length === 0) b.push('<p>None.</p>');
    else
      b.push(
        table(
          [
            ['rule', '20%'],
            ['resource', '22%'],
            ['stages', '10%'],
            ['reason', '28%'],
            ['the rule requires', '20%'],
          ],
          list.map(
            (a) =>
              `<tr class="acknowledgement">${codeCell(`${a.pack}::${a.rule}`)}${codeCell(a.resource)}${td(esc(a.stages.join(', ')))}${td(esc(ackReason(a)))}${td(esc(a.requires ?? '—'))}</tr>`,
          ),
        ),
      );
  }

  b.push('<h2 id="smoke">Dev smoke test</h2>');
  if (!d.smoke) b.push('<p>No smoke test report was given.</p>');
  else {
    b.push(
      `<p><span class="${d.smoke.failed ? 'fail' : 'pass'}">${esc(d.smoke.passed)} passed, ${esc(d.smoke.failed)} failed</span> in ${esc(seconds(d.smoke.seconds))} (${esc(when(d.smoke.timestamp))}).</p>`,
    );
    b.push(
      table(
        [
          ['check', '34%'],
          ['result', '10%'],
          ['time', '12%'],
          ['detail', '44%'],
        ],
        d.smoke.checks.map(
          (ch) =>
            `<tr>${td(esc(ch.name))}${td(ch.passed ? 'pass' : 'FAIL', ch.passed ? 'pass' : 'fail')}${td(esc(seconds(ch.seconds)))}${td(esc(ch.detail))}</tr>`,
        ),
      ),
    );
  }

  b.push('<h2 id="rollout">Dev canary rollout</h2>');
  const r = d.rollout;
  if (!r) b.push('<p>No rollout record was given.</p>');
  else if (isFailedRollout(r))
    b.push(`<p class="fail">${esc(r.outcome)}: ${esc(r.error)}: ${esc(r.cause)}</p>`);
  else {
    b.push(
      `<p><span class="pass">${esc(r.outcome)}</span>: <code>${esc(r.endpointName)}</code>, ${esc(r.baselineVersion)} → ${esc(r.candidateVersion)}, ` +
        `${esc(r.minutes)} minutes (${esc(when(r.startedAt))} to ${esc(when(r.finishedAt))}), traffic source ${esc(r.traffic)}, ${esc(r.record.decisions.length)} decisions.</p>`,
    );
    b.push(
      table(
        [
          ['step', '10%'],
          ['canary weight', '18%'],
          ['decisions', '14%'],
          ['first judged', '34%'],
          ['last verdict', '24%'],
        ],
        r.steps.map(
          (s) =>
            `<tr>${td(esc(s.index + 1))}${td(`${esc(s.weight)}%`)}${td(esc(s.decisions))}${td(esc(when(s.firstJudgedAt)))}${td(esc(s.verdict ?? '—'))}</tr>`,
        ),
      ),
    );
    const svg = rolloutChartSvg(r.record);
    if (svg) b.push(svg);
    const decisive = r.record.decisions.filter((x) => x.verdict !== 'wait');
    if (decisive.length > 0)
      b.push(
        `<ul>${decisive.map((x) => `<li>${esc(when(x.judgedAt))} <strong>${esc(x.verdict)}</strong> at ${esc(x.canaryWeight)}%: ${esc(x.reason)}</li>`).join('')}</ul>`,
      );
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Release dossier ${esc(shortId(d.commit.id))}</title><style>${CSS}</style></head>
<body>
${b.join('\n')}
</body></html>
`;
}

/** Used in the approval comment and the CLI's last line. */
export const permissionSummary = (d: Dossier): string[] => d.permissions.map(permissionSentence);
