import * as fs from 'node:fs';
import * as path from 'node:path';
import { readCompliance } from '../../scripts/compliance';
import { junitXml } from '../../services/smoke/checks';
import { buildDossier, type Dossier, type DossierInput } from '../../services/dossier/dossier';
import { parseJunit } from '../../services/dossier/junit';
import {
  DirectoryStore,
  loadLatestRelease,
  readSynthesized,
  recordRelease,
  type Release,
} from '../../services/dossier/release';
import { renderHtml, renderMarkdown } from '../../services/dossier/render';
import { chartMinutes, rolloutChartSvg } from '../../services/dossier/rollout-chart';
import {
  parseRolloutRecord,
  RolloutRecordError,
  type RolloutRecord,
} from '../../services/dossier/rollout-record';
import { ruleCatalog } from '../../services/dossier/rule-catalog';
import { tempOutdir } from '../support/cdk-app';
import { synthReleaseApp } from './support/release-app';

const commit = (id: string) => ({
  id,
  message: `commit ${id}`,
  author: 'Ada <ada@example.com>',
  time: '2026-12-01T18:00:00Z',
});
const rolloutJson = fs.readFileSync(path.join(__dirname, 'fixtures', 'rollout.json'), 'utf8');

let base: string;
let withGrant: string;
let withAck: string;
let baseRelease: Release;

function inputOf(cdkOut: string, previous?: Release): DossierInput {
  return {
    commit: commit('bbbbbbbbbbbbbbbb'),
    executionId: 'exec-2',
    synthesized: readSynthesized(cdkOut),
    compliance: readCompliance(cdkOut),
    previous,
    catalog: ruleCatalog(),
    now: new Date('2026-12-01T19:30:00Z'),
  };
}

beforeAll(async () => {
  base = synthReleaseApp();
  withGrant = synthReleaseApp({ grantRead: true });
  withAck = synthReleaseApp({ acknowledgeLogging: true });
  // The previous release goes through the store's layout, as the pipeline's RecordRelease writes it.
  const store = new DirectoryStore(tempOutdir());
  await recordRelease(store, {
    commit: commit('aaaaaaaaaaaaaaaa'),
    executionId: 'exec-1',
    recordedAt: new Date('2026-12-01T12:00:00Z'),
    synthesized: readSynthesized(base),
    compliance: readCompliance(base),
  });
  baseRelease = (await loadLatestRelease(store))!;
});

describe('dossier against the last approved release', () => {
  let grant: Dossier;
  beforeAll(() => {
    grant = buildDossier(inputOf(withGrant, baseRelease));
  });

  it('lists an added IAM statement under permission changes, first', () => {
    expect(grant.permissions.length).toBeGreaterThan(0);
    const [first] = grant.permissions;
    expect(first).toMatchObject({ change: 'added', effect: 'Allow', stack: 'Pipeline/Dev/Service' });
    expect(first.action).toContain('s3:GetObject');
    expect(first.resource).toContain('Models');
    expect(grant.headline).toMatch(/^Since release 20261201T120000Z-aaaaaaa: 1 permission added or widened/);
    // Markdown and HTML both show permissions before infrastructure and compliance.
    const md = renderMarkdown(grant);
    expect(md.indexOf('## Permission changes (1)')).toBeLessThan(md.indexOf('## Infrastructure changes'));
    expect(md.slice(md.indexOf('## Permission changes'), md.indexOf('## Infrastructure'))).toContain(
      's3:GetObject',
    );
    const html = renderHtml(grant);
    expect(html.indexOf('id="permissions"')).toBeLessThan(html.indexOf('id="infrastructure"'));
    expect(html).toMatch(/<tr class="permission" data-change="added">.*<code>s3:GetObject\*<\/code>/);
  });

  it("records the stack's changed policy as an infrastructure change, and nothing else", () => {
    if (grant.infrastructure.comparedWith === null) throw new Error('expected a comparison');
    const changed = grant.infrastructure.stacks.filter((s) => s.status !== 'unchanged');
    expect(changed.map((s) => s.stack)).toEqual(['Pipeline/Dev/Service']);
    expect(changed[0].added).toEqual([]);
    expect(changed[0].removed).toEqual([]);
    expect(changed[0].updated).toBe(1);
  });

  it('lists a removed statement as removed, after any addition', () => {
    const store = new DirectoryStore(tempOutdir());
    return recordRelease(store, {
      commit: commit('cccccccccccccccc'),
      executionId: null,
      recordedAt: new Date('2026-12-01T13:00:00Z'),
      synthesized: readSynthesized(withGrant),
      compliance: readCompliance(withGrant),
    }).then(async () => {
      const d = buildDossier(inputOf(base, await loadLatestRelease(store)));
      expect(d.permissions.map((p) => p.change)).toEqual(['removed']);
      expect(d.permissions[0].action).toContain('s3:GetObject');
    });
  });

  it('lists an added acknowledgement under new acknowledgements, with its stages, reason and the rule', () => {
    const d = buildDossier(inputOf(withAck, baseRelease));
    expect(d.compliance.added).toEqual([
      {
        pack: 'cdk-validator-cfnguard',
        rule: 's3_bucket_logging_enabled_check',
        resource: 'Service/Models',
        stages: ['Dev'],
        reasons: ['Model bucket of a short-lived test stage; its reads are in CloudTrail data events.'],
        requires: expect.stringMatching(/logging/i),
      },
    ]);
    expect(d.compliance.removed).toEqual([]);
    expect(d.permissions).toEqual([]);
    const md = renderMarkdown(d);
    const section = md.slice(
      md.indexOf('### New acknowledgements (1)'),
      md.indexOf('### Removed acknowledgements'),
    );
    // Markdown escapes what could open emphasis: the rule reads as s3_bucket_... once rendered.
    expect(section).toContain('cdk-validator-cfnguard::s3\\_bucket\\_logging\\_enabled\\_check');
    expect(section).toContain('CloudTrail data events');
  });

  it('says "no changes since release X" when nothing changed', () => {
    const d = buildDossier(inputOf(base, baseRelease));
    expect(d.headline).toBe('No changes since release 20261201T120000Z-aaaaaaa.');
    expect(d.permissions).toEqual([]);
    expect(renderMarkdown(d)).toContain('**No changes since release 20261201T120000Z-aaaaaaa.**');
    expect(renderHtml(d)).toContain('No changes since release 20261201T120000Z-aaaaaaa.');
  });

  it('says the first release compares against nothing', () => {
    const d = buildDossier(inputOf(base));
    expect(d.previous).toBeNull();
    expect(d.headline).toMatch(/^First release: compared against nothing/);
    expect(d.infrastructure).toEqual({
      comparedWith: null,
      stacks: expect.arrayContaining([{ stack: 'Pipeline/Dev/Service', resources: expect.any(Number) }]),
    });
    // Every acknowledgement is new: the page sums them per rule instead of listing each resource.
    const md = renderMarkdown(d);
    expect(md).toContain('### Acknowledgements by rule (compared against nothing: all are new)');
    expect(md).toMatch(/\| NIST\.800\.53\.R5::NIST\.800\.53\.R5-IAMNoInlinePolicy \| 1 \| Dev \|/);
    expect(md).not.toContain('### New acknowledgements');
  });
});

describe('smoke test and rollout sections', () => {
  it('reads every check of the smoke JUnit report with its result and time', () => {
    const xml = junitXml(
      [
        { name: 'contract', ok: true, durationMs: 912, detail: '6 answers <ok>' },
        { name: 'latency-p95', ok: false, durationMs: 2, detail: 'p95 1900 ms > 1500 ms & rising' },
      ],
      'smoke',
      new Date('2026-12-01T18:58:41Z'),
    );
    expect(parseJunit(xml)).toEqual({
      suite: 'smoke',
      timestamp: '2026-12-01T18:58:41.000Z',
      passed: 1,
      failed: 1,
      seconds: 0.914,
      checks: [
        { name: 'contract', passed: true, seconds: 0.912, detail: '6 answers <ok>' },
        { name: 'latency-p95', passed: false, seconds: 0.002, detail: 'p95 1900 ms > 1500 ms & rising' },
      ],
    });
  });

  it('charts weight, error rate and latency per minute with one marker per decision', () => {
    const record = parseRolloutRecord(rolloutJson) as RolloutRecord;
    const svg = rolloutChartSvg(record)!;
    expect(svg.match(/<g class="decision"/g)).toHaveLength(record.decisions.length);
    expect(svg.match(/data-verdict="promote"/g)).toHaveLength(
      record.decisions.filter((d) => d.verdict === 'promote').length,
    );
    for (const series of [
      'canary weight',
      'baseline error rate',
      'canary error rate',
      'baseline p99',
      'canary p99',
    ])
      expect(svg).toContain(`data-series="${series}"`);
    // One point per complete minute, even when several decisions saw the same minute.
    const minutes = chartMinutes(record.decisions);
    expect(new Set(minutes.map((m) => m.minute)).size).toBe(minutes.length);
    expect(minutes.length).toBe(new Set(record.decisions.filter((d) => d.minute).map((d) => d.minute)).size);
  });

  it('shows the rollout verdict, its steps and the model versions before and after', () => {
    const d = buildDossier({ ...inputOf(base, baseRelease), rollout: parseRolloutRecord(rolloutJson) });
    expect(d.models).toEqual({ before: 'v1.0.0', after: 'v1.1.0' });
    const md = renderMarkdown(d);
    expect(md).toContain('**promoted**: mlinference-dev-endpoint, v1.0.0 → v1.1.0');
    expect(md).toMatch(/\| 1 \| 10% \| 6 \|.*\| promote \|/);
    expect(renderHtml(d)).toContain('<svg xmlns="http://www.w3.org/2000/svg" class="rollout-chart"');
  });

  it('names the field a malformed rollout record gets wrong', () => {
    const broken = JSON.parse(rolloutJson) as { decisions: { verdict: string }[] };
    broken.decisions[2].verdict = 'maybe';
    expect(() => parseRolloutRecord(JSON.stringify(broken))).toThrow(
      new RolloutRecordError('decisions[2].verdict must be wait, promote or rollback'),
    );
    expect(() => parseRolloutRecord('{"outcome":"done"}')).toThrow(/outcome must be promoted/);
  });
});
