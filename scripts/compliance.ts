import * as fs from 'node:fs';
import * as path from 'node:path';
import { readAcknowledgements, type Acknowledgement } from './acknowledgements';
import { parseCli } from './cli';

const USAGE = `Usage: npm run compliance [-- --cdk-out DIR] [-- --out DIR] [-- --previous FILE]

Turns the synthesized app's compliance results into a report a reviewer can approve from
(run \`npm run synth\` first). Writes compliance.md, compliance.html and compliance.json and
prints a one-line summary. Exits 1 when any finding is open.
  --cdk-out DIR    cloud assembly to read (default: cdk.out)
  --out DIR        where to write the report (default: <cdk-out>/compliance, part of the synth artifact)
  --previous FILE  an earlier compliance.json: the report starts with what changed since
  --help           this text`;

/** A finding that is neither fixed nor acknowledged. */
export interface OpenFinding {
  readonly pack: string;
  readonly rule: string;
  readonly description: string;
  readonly path: string;
}

/** Everything the report shows, also written as compliance.json for the next comparison. */
export interface ComplianceResult {
  readonly packs: string[];
  readonly open: OpenFinding[];
  readonly acknowledgements: Acknowledgement[];
}

interface ValidationReport {
  readonly pluginReports: {
    readonly pluginName: string;
    readonly violations?: {
      readonly ruleName: string;
      readonly description: string;
      readonly violatingConstructs: { readonly constructPath: string }[];
    }[];
  }[];
}

const PACK_NAMES: Record<string, string> = {
  AwsSolutions: 'AWS Solutions (cdk-nag)',
  'NIST.800.53.R5': 'NIST 800-53 R5 (cdk-nag)',
  'HIPAA.Security': 'HIPAA Security (cdk-nag)',
  'cdk-validator-cfnguard': 'cfn-guard Control Tower',
  'CloudFormation-Validate': 'CloudFormation validation',
  'CloudFormation Validate': 'CloudFormation validation',
};

/** Reads the validation report and the acknowledgements recorded in a cloud assembly. */
export function readCompliance(cdkOut: string): ComplianceResult {
  const reportPath = path.join(cdkOut, 'validation-report.json');
  if (!fs.existsSync(reportPath)) {
    throw new Error(
      `${reportPath} not found: run \`npm run synth\` first (it writes the validation report).`,
    );
  }
  const report = JSON.parse(fs.readFileSync(reportPath, 'utf8')) as ValidationReport;
  const open: OpenFinding[] = report.pluginReports.flatMap((plugin) =>
    (plugin.violations ?? []).flatMap((v) =>
      v.violatingConstructs.map((c) => ({
        pack: plugin.pluginName === 'CloudFormation Validate' ? 'CloudFormation-Validate' : plugin.pluginName,
        rule: v.ruleName,
        description: v.description,
        path: c.constructPath,
      })),
    ),
  );
  const acknowledgements = readAcknowledgements(cdkOut);
  const packs = [
    ...new Set([
      'AwsSolutions',
      'NIST.800.53.R5',
      'HIPAA.Security',
      'cdk-validator-cfnguard',
      'CloudFormation-Validate',
      ...report.pluginReports.map((p) =>
        p.pluginName === 'CloudFormation Validate' ? 'CloudFormation-Validate' : p.pluginName,
      ),
      ...acknowledgements.map((a) => a.pack),
    ]),
  ];
  return { packs, open, acknowledgements };
}

const ackKey = (a: Acknowledgement): string => `${a.pack}::${a.rule} @ ${a.path}`;

/** What changed between two results: acknowledgements added and removed, open findings now. */
export function diffCompliance(previous: ComplianceResult, current: ComplianceResult) {
  const before = new Set(previous.acknowledgements.map(ackKey));
  const after = new Set(current.acknowledgements.map(ackKey));
  return {
    added: current.acknowledgements.filter((a) => !before.has(ackKey(a))),
    removed: previous.acknowledgements.filter((a) => !after.has(ackKey(a))),
    openBefore: previous.open.length,
    openNow: current.open.length,
  };
}

/** The one-line summary printed at the end and at the top of the report. */
export function summaryLine(result: ComplianceResult): string {
  const stages = new Set(result.acknowledgements.map((a) => a.stage));
  return (
    `${result.open.length === 0 ? 'PASS' : 'FAIL'}: ${result.open.length} open findings, ` +
    `${result.acknowledgements.length} acknowledgements across ${result.packs.length} packs and ${stages.size} assemblies`
  );
}

/** Renders the report as Markdown. */
export function renderMarkdown(result: ComplianceResult, previous?: ComplianceResult): string {
  const lines: string[] = ['# Compliance report', '', `**${summaryLine(result)}**`, ''];
  if (previous) {
    const d = diffCompliance(previous, result);
    lines.push('## Changes since the previous report', '');
    lines.push(`Open findings: ${d.openBefore} → ${d.openNow}.`, '');
    lines.push(`### New acknowledgements (${d.added.length})`, '');
    for (const a of d.added) lines.push(`- \`${a.pack}::${a.rule}\` on \`${a.path}\`: ${a.reason}`);
    lines.push('', `### Removed acknowledgements (${d.removed.length})`, '');
    for (const a of d.removed) lines.push(`- \`${a.pack}::${a.rule}\` on \`${a.path}\``);
    lines.push('');
  }
  const stages = [...new Set(result.acknowledgements.map((a) => a.stage))].sort();
  lines.push('## Totals', '', `| pack | open | acknowledged | ${stages.join(' | ')} |`);
  lines.push(`|---|---|---|${stages.map(() => '---|').join('')}`);
  for (const pack of result.packs) {
    const acks = result.acknowledgements.filter((a) => a.pack === pack);
    const open = result.open.filter((o) => o.pack === pack).length;
    lines.push(
      `| ${PACK_NAMES[pack] ?? pack} | ${open} | ${acks.length} | ${stages.map((s) => acks.filter((a) => a.stage === s).length).join(' | ')} |`,
    );
  }
  lines.push('', `## Open findings (${result.open.length})`, '');
  if (result.open.length === 0) lines.push('None: every finding is fixed or acknowledged below.');
  for (const o of result.open) lines.push(`- **${o.pack}::${o.rule}** on \`${o.path}\`: ${o.description}`);
  for (const pack of result.packs) {
    const acks = result.acknowledgements.filter((a) => a.pack === pack);
    lines.push('', `## ${PACK_NAMES[pack] ?? pack}: ${acks.length} acknowledgements`, '');
    const groups = new Map<string, Acknowledgement[]>();
    for (const a of acks)
      groups.set(`${a.rule}\u0000${a.reason}`, [...(groups.get(`${a.rule}\u0000${a.reason}`) ?? []), a]);
    for (const [key, group] of [...groups].sort()) {
      const [rule, reason] = key.split('\u0000');
      lines.push(`### \`${rule}\` (${group.length})`, '', `Reason: ${reason}`, '');
      for (const a of group) lines.push(`- ${a.stage}: \`${a.path}\``);
      lines.push('');
    }
  }
  return `${lines.join('\n')}\n`;
}

const escapeHtml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Renders the same report as a standalone HTML page (inline code, tables and lists only). */
export function renderHtml(markdown: string): string {
  const body: string[] = [];
  let inList = false;
  let inTable = false;
  const inline = (s: string) =>
    escapeHtml(s)
      .replace(/\*\*(.+?)\*\*/g, '<strong>$1</strong>')
      .replace(/`(.+?)`/g, '<code>$1</code>');
  for (const line of markdown.split('\n')) {
    if (inList && !line.startsWith('- ')) {
      body.push('</ul>');
      inList = false;
    }
    if (inTable && !line.startsWith('|')) {
      body.push('</table>');
      inTable = false;
    }
    const heading = /^(#{1,3}) (.*)$/.exec(line);
    if (heading) body.push(`<h${heading[1].length}>${inline(heading[2])}</h${heading[1].length}>`);
    else if (line.startsWith('- ')) {
      if (!inList) {
        body.push('<ul>');
        inList = true;
      }
      body.push(`<li>${inline(line.slice(2))}</li>`);
    } else if (line.startsWith('|')) {
      if (/^\|(-+\|)+$/.test(line.replace(/\s/g, ''))) continue;
      const cells = line
        .split('|')
        .slice(1, -1)
        .map((c) => inline(c.trim()));
      body.push(
        inTable
          ? `<tr><td>${cells.join('</td><td>')}</td></tr>`
          : `<table><tr><th>${cells.join('</th><th>')}</th></tr>`,
      );
      inTable = true;
    } else if (line.trim() !== '') body.push(`<p>${inline(line)}</p>`);
  }
  if (inList) body.push('</ul>');
  if (inTable) body.push('</table>');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Compliance report</title>
<style>body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;line-height:1.4}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}code{background:#f4f4f4;padding:0 .2rem}</style>
</head><body>
${body.join('\n')}
</body></html>
`;
}

/** Writes compliance.md, compliance.html and compliance.json to `outDir`. */
export function writeReport(result: ComplianceResult, outDir: string, previous?: ComplianceResult): void {
  const markdown = renderMarkdown(result, previous);
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'compliance.md'), markdown);
  fs.writeFileSync(path.join(outDir, 'compliance.html'), renderHtml(markdown));
  fs.writeFileSync(path.join(outDir, 'compliance.json'), `${JSON.stringify(result, null, 2)}\n`);
}

function main(argv: string[]): number {
  const flags = parseCli(argv, {
    usage: USAGE,
    flags: { 'cdk-out': 'string', out: 'string', previous: 'string' },
  });
  const cdkOut = flags['cdk-out'] ?? 'cdk.out';
  const outDir = flags.out ?? path.join(cdkOut, 'compliance');
  const previousPath = flags.previous;
  console.error(`compliance: reading ${cdkOut}`);
  const result = readCompliance(cdkOut);
  const previous = previousPath
    ? (JSON.parse(fs.readFileSync(previousPath, 'utf8')) as ComplianceResult)
    : undefined;
  writeReport(result, outDir, previous);
  console.log(`Report: ${path.join(outDir, 'compliance.md')} (and .html, .json)`);
  console.log(summaryLine(result));
  if (result.open.length > 0) {
    console.error(
      'Fix the open findings above, or acknowledge each on its resource with a specific reason (lib/compliance.ts).',
    );
    return 1;
  }
  return 0;
}

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (error) {
    console.error(`compliance: ${(error as Error).message}`);
    process.exitCode = 2;
  }
}
