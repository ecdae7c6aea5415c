/**
 * The dossier reads records other roles can write (the rollout record, the release store, the smoke
 * report): every field is checked when read, and every value is escaped where a page writes it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Dossier } from '../../services/dossier/dossier';
import { escapeHtml, escapeMarkdown } from '../../services/dossier/escape';
import {
  DirectoryStore,
  loadLatestRelease,
  parseComplianceResult,
  parseReleaseManifest,
  ReleaseRecordError,
} from '../../services/dossier/release';
import { renderHtml, renderMarkdown } from '../../services/dossier/render';
import { parseRolloutRecord, RolloutRecordError } from '../../services/dossier/rollout-record';
import { tempOutdir } from '../support/cdk-app';

/** Markup in every language the pages speak, marked with the field it was put in. */
const hostile = (field: string): string =>
  `F{${field}}<script>alert(1)</script> "q" 'a' &amp; & [x](javascript:alert(2)) ![i](x) *b* _i_ ` +
  '`c` | ~~s~~ <img src=x onerror=alert(3)>\n# heading\n<b>next line</b>';

const minute = { invocations: 100, errors: 1, p50Ms: 12, p99Ms: 40 };
const decision = (verdict: 'wait' | 'promote', stepIndex: number, judgedAt: string) => ({
  judgedAt,
  stepIndex,
  canaryWeight: [10, 100][stepIndex],
  verdict,
  reason: 'reason',
  minute: '2026-12-01T19:00:00.000Z',
  baseline: minute,
  canary: minute,
});
const ack = {
  pack: 'AwsSolutions',
  rule: 'IAM5',
  resource: 'Inference/Role',
  stages: ['Dev', 'Prod'],
  reasons: ['reason'],
  requires: 'requires',
};
const ref = { logicalId: 'Res', type: 'AWS::S3::Bucket', path: 'Stack/Res' };

/** A dossier with one entry in every list, so every line of both pages is written. */
const full = (): Dossier => {
  const record = {
    outcome: 'promoted' as const,
    endpointName: 'endpoint',
    baselineVersion: 'v1',
    candidateVersion: 'v2',
    policy: {
      steps: [10, 100],
      minBakeMinutes: 1,
      deadlineMinutes: 60,
      alpha: 0.05,
      errorRegression: { ratio: 2, increase: 0.01 },
      latencyRegressionRatio: 1.2,
    },
    startedAt: '2026-12-01T19:00:00.000Z',
    finishedAt: '2026-12-01T19:10:00.000Z',
    decisions: [
      decision('wait', 0, '2026-12-01T19:02:00.000Z'),
      decision('promote', 0, '2026-12-01T19:04:00.000Z'),
      decision('promote', 1, '2026-12-01T19:08:00.000Z'),
    ],
    traffic: { mode: 'always' as const },
  };
  return {
    format: 'release-dossier/1',
    generatedAt: '2026-12-01T19:30:00.000Z',
    commit: { id: 'abc', message: 'message', author: 'author', time: '2026-12-01T18:00:00Z' },
    executionId: 'exec',
    previous: {
      id: 'release',
      commit: { id: 'def', message: 'm', author: 'a', time: null },
      recordedAt: '2026-12-01T12:00:00Z',
    },
    headline: 'headline',
    quality: {
      offline: {
        baselineVersion: 'v1',
        candidateVersion: 'v2',
        task: 'classification',
        rows: 30,
        metric: 'accuracy',
        baseline: 1,
        candidate: 0.9667,
        difference: -0.0333,
        interval: { lower: -0.1, upper: 0.04 },
        threshold: -0.01,
        outcome: 'inconclusive',
        passed: true,
        summary: 'summary',
      },
      smokeTruth: [{ name: 'truth-VariantB', passed: false, seconds: 0.3, detail: 'detail' }],
      online: {
        accuracy: { baseline: 0.98, canary: 0.5, baselineLabelled: 100, canaryLabelled: 10 },
        distribution: { classes: ['a', 'b'], baseline: [0.5, 0.5], canary: [0.9, 0.1] },
        tv: 0.4,
      },
    },
    permissions: [
      {
        stack: 'stack',
        change: 'added',
        kind: 'statement',
        effect: 'Allow',
        principal: 'p',
        action: 's3:GetObject',
        resource: '*',
        condition: 'c',
      },
    ],
    infrastructure: {
      comparedWith: 'release',
      stacks: [
        {
          stack: 'stack',
          status: 'changed',
          added: [ref],
          removed: [ref],
          replaced: [{ ...ref, impact: 'replaced', properties: ['BucketName'] }],
          updated: 1,
          otherChanges: 0,
          permissions: [],
        },
      ],
    },
    compliance: {
      open: [{ pack: 'AwsSolutions', rule: 'S1', description: 'd', path: 'Stack/Res' }],
      acknowledgements: 1,
      added: [ack],
      removed: [ack],
    },
    smoke: {
      suite: 'smoke',
      timestamp: '2026-12-01T19:00:00Z',
      checks: [
        { name: 'ping', passed: true, seconds: 0.2, detail: 'ok' },
        { name: 'predict', passed: false, seconds: 1.5, detail: 'bad' },
      ],
      passed: 1,
      failed: 1,
      seconds: 1.7,
    },
    rollout: {
      outcome: 'promoted',
      endpointName: 'endpoint',
      baselineVersion: 'v1',
      candidateVersion: 'v2',
      startedAt: record.startedAt,
      finishedAt: record.finishedAt,
      minutes: 10,
      traffic: 'always',
      steps: [
        { index: 0, weight: 10, decisions: 2, firstJudgedAt: '2026-12-01T19:02:00.000Z', verdict: 'promote' },
        {
          index: 1,
          weight: 100,
          decisions: 1,
          firstJudgedAt: '2026-12-01T19:08:00.000Z',
          verdict: 'promote',
        },
      ],
      record,
    },
    models: { before: 'v1', after: 'v2' },
    modelShapes: [
      { version: 'v1', task: 'classification', featureCount: 4, labels: ['setosa', 'virginica'] },
      { version: 'v2', task: 'regression', featureCount: 4 },
    ],
  };
};

/** Replaces every string of `value` (enums, ids and times too) with a hostile one naming its field. */
function poison<T>(value: T, at = '', fields: string[] = []): T {
  if (typeof value === 'string') {
    fields.push(at);
    return hostile(at) as T;
  }
  if (Array.isArray(value)) return value.map((v: unknown, i) => poison(v, `${at}[${i}]`, fields)) as T;
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, poison(v, at ? `${at}.${k}` : k, fields)]),
    ) as T;
  return value;
}

const TAGS = new Set(
  'html head meta title style body h1 h2 h3 p dl dt dd code br table colgroup col thead tbody tr th td ul li span strong svg g text rect line path circle'.split(
    ' ',
  ),
);
const ATTRIBUTES = new Set(
  'lang charset name content class id style xmlns viewBox role aria-label x y x1 x2 y1 y2 width height d fill stroke stroke-width stroke-dasharray opacity r cx cy text-anchor data-panel data-series data-verdict data-change'.split(
    ' ',
  ),
);

/** Every `<` of the page opens a tag of the page's own vocabulary, with attributes of it, well quoted. */
function expectOnlyOwnMarkup(html: string): void {
  const body = html.replace(/<style>[^<]*<\/style>/g, '<style></style>').replace(/^<!doctype html>/, '');
  const tag = /^<\/?([a-zA-Z][\w-]*)((?:\s+[\w:-]+="[^"<>]*")*)\s*\/?>/;
  let at = body.indexOf('<');
  while (at >= 0) {
    const m = tag.exec(body.slice(at));
    expect(m?.[0] ?? body.slice(at, at + 60)).toMatch(tag);
    expect(TAGS).toContain(m![1]);
    for (const [, attribute] of m![2].matchAll(/([\w:-]+)="/g)) expect(ATTRIBUTES).toContain(attribute);
    at = body.indexOf('<', at + m![0].length);
  }
  // Text never holds a quote, `>` or a bare `&`: each came through escapeHtml.
  const text = body.replace(/<[^>]*>/g, '');
  expect(text).not.toMatch(/["'>]|&(?!(amp|lt|gt|quot|#39);)/);
}

/** No value starts a line, and every character that opens Markdown markup in a value is escaped. */
function expectOnlyOwnMarkdown(page: string): void {
  expect(page).not.toMatch(/^(# heading|<b>)/m);
  for (const line of page.split('\n')) {
    const own = line
      .replace(/\\./g, '') // what escapeMarkdown escaped
      .replace(/^(#{1,3} |- |\|---.*)/, '')
      .replace(/^\| | \| | \|$/g, ' ')
      .replace(/\*\*/g, '')
      .replace('`npm run acks`', '');
    expect(own).not.toMatch(/[<>`*_[\]|~&!]/);
  }
}

describe('dossier pages with hostile values in every field', () => {
  const fields: string[] = [];
  const against = poison(full(), '', fields);
  const first = poison({
    ...full(),
    previous: null,
    infrastructure: { comparedWith: null, stacks: [{ stack: 'stack', resources: 3 }] },
  });
  const failure = poison({ ...full(), rollout: { outcome: 'rolled-back', error: 'e', cause: 'c' } });
  // The outcome picks the section (the reader admits four); the others are poisoned.
  const failed = { ...failure, rollout: { ...failure.rollout!, outcome: 'rolled-back' } } as Dossier;
  const cases: [string, Dossier][] = [
    ['against a previous release, promoted', against],
    ['first release', first],
    ['rolled back', failed],
  ];

  it.each(cases)('HTML (%s): only the page own tags and attributes, every value escaped', (_, d) => {
    const html = renderHtml(d);
    expectOnlyOwnMarkup(html);
    expect(html).toContain(escapeHtml(d.headline));
  });

  it.each(cases)('Markdown (%s): no markup, HTML or line start from a value', (_, d) => {
    const page = renderMarkdown(d);
    expectOnlyOwnMarkdown(page);
    expect(page).toContain(escapeMarkdown(d.headline));
  });

  it('every string field of the dossier reaches a page, so the checks above cover them all', () => {
    const pages = cases.flatMap(([, d]) => [renderHtml(d), renderMarkdown(d)]).join('\n');
    const missing = fields.filter(
      (f) => !pages.includes(escapeHtml(`F{${f}}`)) && !pages.includes(escapeMarkdown(`F{${f}}`)),
    );
    // Not written by design: the format tag, the statement kind, the previous commit's message and author
    // (its id is, shortened to 12 characters), the release compared with (written only when nothing
    // changed), a resource's logical id (its path is written instead), the suite's name, and the raw
    // rollout record, whose decisions the steps, the chart and the decision list show; the offline
    // evaluation's metric and outcome, which choose the page's own words (accuracy or MAE, the verdict).
    expect(missing.filter((f) => !f.startsWith('rollout.record.'))).toEqual([
      'format',
      'previous.commit.id',
      'previous.commit.message',
      'previous.commit.author',
      'quality.offline.metric',
      'quality.offline.outcome',
      'permissions[0].kind',
      'infrastructure.comparedWith',
      'infrastructure.stacks[0].added[0].logicalId',
      'infrastructure.stacks[0].removed[0].logicalId',
      'infrastructure.stacks[0].replaced[0].logicalId',
      'smoke.suite',
      // Rendered as the words of describeShape ('classification, ...' or 'regression, ...'), not as given.
      'modelShapes[0].task',
      'modelShapes[1].task',
    ]);
  });

  it('escapes each markup character', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe(
      '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;',
    );
    expect(escapeMarkdown('<b>*x*</b> [l](u) `c` a|b &amp; ~~s~~ #h\nnext')).toBe(
      '\\<b\\>\\*x\\*\\</b\\> \\[l\\]\\(u\\) \\`c\\` a\\|b \\&amp; \\~\\~s\\~\\~ \\#h, next',
    );
  });
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the fixture's JSON, edited in place per case
type Loose = Record<string, any>;

describe('records the dossier reads are checked field by field', () => {
  const rolloutJson = fs.readFileSync(path.join(__dirname, 'fixtures', 'rollout.json'), 'utf8');
  const withField = (edit: (r: Loose) => void): string => {
    const r = JSON.parse(rolloutJson) as Loose;
    edit(r);
    return JSON.stringify(r);
  };

  it.each<[string, (r: Loose) => void, string]>([
    [
      'a step that is markup',
      (r) => (r.policy.steps = ['<script>', 100]),
      'policy must be a valid rollout policy: steps[0]',
    ],
    [
      'a weight that is text',
      (r) => (r.decisions[0].canaryWeight = '10<b>'),
      'decisions[0].canaryWeight must be a number',
    ],
    [
      'a reason that is not text',
      (r) => (r.decisions[1].reason = { html: '<script>' }),
      'decisions[1].reason must be a string',
    ],
    [
      'a step index outside the policy',
      (r) => (r.decisions[0].stepIndex = 7),
      "decisions[0].stepIndex must name one of the policy's 2 steps",
    ],
    [
      'a traffic mode of markup',
      (r) => (r.traffic.mode = '<i>'),
      'traffic.mode must be off, always or top-up',
    ],
    ['a time that is not one', (r) => (r.startedAt = '<script>'), 'startedAt must be an ISO-8601 time'],
    [
      'latency of text',
      (r) => (r.decisions[1].canary.p99Ms = '1<b>'),
      'decisions[1].canary.p99Ms must be a number ≥ 0 or null',
    ],
    ['an endpoint that is not text', (r) => (r.endpointName = 5), 'endpointName must be a string'],
    [
      'a failure without a cause',
      (r) => {
        r.outcome = 'failed';
        r.error = 'E';
      },
      'cause must be a string',
    ],
  ])('rejects a rollout record with %s, naming the field', (_, edit, message) => {
    expect(() => parseRolloutRecord(withField(edit))).toThrow(RolloutRecordError);
    expect(() => parseRolloutRecord(withField(edit))).toThrow(message);
  });

  it('keeps only the checked fields of a rollout record', () => {
    const parsed = parseRolloutRecord(withField((r) => (r.extra = '<script>')));
    expect(JSON.stringify(parsed)).not.toContain('<script>');
  });

  const manifest = {
    id: '20261201T120000Z-aaaaaaa',
    recordedAt: '2026-12-01T12:00:00.000Z',
    commit: { id: 'aaaaaaaaaaaa', message: 'm', author: 'a', time: null },
    executionId: null,
    stacks: [{ name: 'Stack', file: 'Stack.template.json' }],
  };
  it.each<[string, Record<string, unknown>, string]>([
    ['an id that leaves its folder', { id: '../../x' }, 'id must be a release id'],
    [
      'a template file in another folder',
      { stacks: [{ name: 'S', file: '../../../etc/passwd' }] },
      'stacks[0].file must be a template file name',
    ],
    [
      'a commit id of markup',
      { commit: { ...manifest.commit, id: '<script>' } },
      'commit.id must be a commit id',
    ],
    ['a time that is not one', { recordedAt: 'yesterday' }, 'recordedAt must be an ISO-8601 time'],
    ['models that are not text', { models: { dev: 1 } }, 'models must be an object of strings'],
  ])('rejects a release.json with %s', (_, change, message) => {
    const text = JSON.stringify({ ...manifest, ...change });
    expect(() => parseReleaseManifest(text)).toThrow(ReleaseRecordError);
    expect(() => parseReleaseManifest(text)).toThrow(`release.json: ${message}`);
  });

  it('rejects a compliance.json whose entries are not text', () => {
    const text = JSON.stringify({
      packs: [],
      open: [],
      acknowledgements: [{ stage: 'Dev', pack: 'p', rule: 'r', path: 'x', reason: ['<b>'] }],
    });
    expect(() => parseComplianceResult(text)).toThrow(
      'compliance.json: acknowledgements[0].reason must be a string',
    );
  });

  it('refuses a latest.json that points outside the releases', async () => {
    const dir = tempOutdir();
    fs.mkdirSync(path.join(dir, 'releases'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'releases', 'latest.json'), JSON.stringify({ id: '../outside' }));
    await expect(loadLatestRelease(new DirectoryStore(dir))).rejects.toThrow(
      'releases/latest.json: id must be a release id',
    );
  });
});
