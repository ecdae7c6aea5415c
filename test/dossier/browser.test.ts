import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readCompliance } from '../../scripts/compliance';
import { buildDossier } from '../../services/dossier/dossier';
import { parseJunit } from '../../services/dossier/junit';
import { parseEvaluationReport } from '../../services/dossier/quality';
import {
  DirectoryStore,
  loadLatestRelease,
  readSynthesized,
  recordRelease,
} from '../../services/dossier/release';
import { renderHtml } from '../../services/dossier/render';
import { parseRolloutRecord } from '../../services/dossier/rollout-record';
import { ruleCatalog } from '../../services/dossier/rule-catalog';
import { tempOutdir } from '../support/cdk-app';
import { synthReleaseApp } from './support/release-app';

/** Debian's `chromium` (apt-get install -y chromium), or CHROMIUM=path. */
const chromium = ((): string | undefined => {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  const found = spawnSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], {
    encoding: 'utf8',
  });
  return found.status === 0 ? found.stdout.trim() : undefined;
})();

/** Flags for a headless run as root in CI: no sandbox, GPU, network chatter or shared profile. */
const chromiumArgs = (profile: string, width: number, height: number): string[] => [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--hide-scrollbars',
  `--user-data-dir=${profile}`,
  `--window-size=${width},${height}`,
];

/** Measures the laid-out page in the browser and writes the result into the DOM that --dump-dom prints. */
const MEASURE = `<script>
(() => {
  const root = document.documentElement;
  const overflowing = [...document.querySelectorAll('body *')]
    .filter((e) => e.getBoundingClientRect().right > root.clientWidth + 1)
    .map((e) => e.tagName.toLowerCase() + (e.className && typeof e.className === 'string' ? '.' + e.className : ''));
  const chart = document.querySelector('svg.rollout-chart');
  const box = chart ? chart.getBoundingClientRect() : null;
  const result = {
    viewport: root.clientWidth,
    scrollWidth: root.scrollWidth,
    overflowing: overflowing.slice(0, 10),
    chart: box ? { width: Math.round(box.width), height: Math.round(box.height), decisions: chart.querySelectorAll('g.decision').length, paths: chart.querySelectorAll('path[data-series]').length } : null,
    tables: document.querySelectorAll('table').length,
    sections: [...document.querySelectorAll('h2')].map((h) => h.id),
    quality: {
      offline: [...document.querySelectorAll('tr.offline td')].map((td) => td.textContent),
      truth: document.querySelectorAll('tr.truth').length,
      online: [...document.querySelectorAll('tr.online')].map((tr) => tr.textContent),
      notRecorded: [...document.querySelectorAll('p.muted')].filter((p) => p.textContent.includes('not recorded')).length,
    },
  };
  const pre = document.createElement('pre');
  pre.id = 'layout-result';
  pre.textContent = JSON.stringify(result);
  document.body.appendChild(pre);
})();
</script>`;

interface Layout {
  viewport: number;
  scrollWidth: number;
  overflowing: string[];
  chart: { width: number; height: number; decisions: number; paths: number } | null;
  tables: number;
  sections: string[];
  quality: { offline: string[]; truth: number; online: string[]; notRecorded: number };
}

let html: string;
let decisions: number;
let dir: string;

/** Renders the sample dossier at one window width and returns what the browser measured. */
function layoutAt(width: number): Layout {
  const file = path.join(dir, `measure-${width}.html`);
  fs.writeFileSync(file, html.replace('</body>', `${MEASURE}</body>`));
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'chromium-'));
  try {
    const dom = execFileSync(
      chromium!,
      [...chromiumArgs(profile, width, 900), '--dump-dom', `file://${file}`],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 60_000,
      },
    );
    const json = /<pre id="layout-result">(.*?)<\/pre>/s.exec(dom)?.[1];
    if (!json) throw new Error(`no layout result in the dumped DOM:\n${dom.slice(0, 500)}`);
    return JSON.parse(json.replace(/&quot;/g, '"').replace(/&amp;/g, '&')) as Layout;
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

const describeInBrowser = chromium ? describe : describe.skip;
if (!chromium) console.log('dossier browser test skipped: chromium not found (apt-get install -y chromium)');

describeInBrowser('the dossier as a person sees it (headless Chromium)', () => {
  beforeAll(async () => {
    dir = tempOutdir();
    const base = synthReleaseApp();
    const next = synthReleaseApp({ grantRead: true, acknowledgeLogging: true });
    const store = new DirectoryStore(path.join(dir, 'store'));
    await recordRelease(store, {
      commit: { id: '4f1c2b7a9e0d3c5b8a6f', message: 'Model v1.0.0', author: null, time: null },
      executionId: '5d8a3c1e-0b7f-4e2a-9c6d-1a2b3c4d5e6f',
      recordedAt: new Date('2026-11-30T16:20:00Z'),
      synthesized: readSynthesized(base),
      compliance: readCompliance(base),
    });
    const fixtures = path.join(__dirname, 'fixtures');
    const rollout = parseRolloutRecord(fs.readFileSync(path.join(fixtures, 'rollout.json'), 'utf8'));
    decisions = 'decisions' in rollout ? rollout.decisions.length : 0;
    const dossier = buildDossier({
      commit: {
        id: '9b2e6d41c07a5f38e1d2',
        message: 'Candidate model v1.1.0; worker reads the model bucket',
        author: 'Ada Lovelace <ada@example.com>',
        time: '2026-12-01T18:41:07Z',
      },
      executionId: '0f3c2a1e-5b7d-4c8e-9a10-2b3c4d5e6f70',
      synthesized: readSynthesized(next),
      compliance: readCompliance(next),
      previous: await loadLatestRelease(store),
      smoke: parseJunit(fs.readFileSync(path.join(fixtures, 'smoke-junit.xml'), 'utf8')),
      rollout,
      evaluation: parseEvaluationReport(fs.readFileSync(path.join(fixtures, 'evaluation.json'), 'utf8')),
      catalog: ruleCatalog(),
      now: new Date('2026-12-01T19:12:30Z'),
    });
    html = renderHtml(dossier);
    // DOSSIER_SCREENSHOT=docs/dossier.png npx jest test/dossier/browser.test.ts refreshes the README's picture.
    const shot = process.env.DOSSIER_SCREENSHOT;
    if (shot) {
      const page = path.join(dir, 'dossier.html');
      fs.writeFileSync(page, html);
      const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'chromium-'));
      execFileSync(
        chromium!,
        [...chromiumArgs(profile, 1000, 2200), `--screenshot=${path.resolve(shot)}`, `file://${page}`],
        {
          stdio: 'ignore',
          timeout: 60_000,
        },
      );
      fs.rmSync(profile, { recursive: true, force: true });
    }
  });

  it.each([1280, 800])(
    'lays out without horizontal overflow at %i px, with the rollout chart drawn',
    (width) => {
      const layout = layoutAt(width);
      expect(layout.overflowing).toEqual([]);
      expect(layout.scrollWidth).toBeLessThanOrEqual(layout.viewport);
      expect(layout.tables).toBeGreaterThanOrEqual(5);
      expect(layout.chart).not.toBeNull();
      expect(layout.chart!.width).toBeGreaterThan(0.6 * Math.min(width, 1024) - 48);
      expect(layout.chart!.height).toBeGreaterThan(200);
      expect(layout.chart!.decisions).toBe(decisions);
      expect(layout.chart!.paths).toBe(5);
    },
  );

  it('opens with model quality: the offline table, the smoke truth checks and the online quality per variant', () => {
    const layout = layoutAt(1280);
    expect(layout.sections.slice(0, 2)).toEqual(['quality', 'permissions']);
    expect(layout.quality.offline).toEqual([
      'accuracy',
      '100.00 %',
      '96.67 %',
      '-3.33 pt (90 % CI -10.34 pt to +4.09 pt)',
      '-1.00 pt',
      'pass: too few rows',
    ]);
    expect(layout.quality.truth).toBe(3);
    expect(layout.quality.online).toEqual([
      'baseline (VariantA)98.0 % of 810 labelledsetosa 33.2 %, versicolor 33.5 %, virginica 33.3 %',
      'candidate (VariantB)97.8 % of 90 labelledsetosa 34.4 %, versicolor 32.2 %, virginica 33.3 %',
    ]);
    expect(layout.quality.notRecorded).toBe(0);
  });
});
