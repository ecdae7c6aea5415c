import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  diffCompliance,
  readCompliance,
  renderHtml,
  renderMarkdown,
  summaryLine,
} from '../../scripts/compliance';
import { tempOutdir } from '../support/cdk-app';

function fixture(violations: number): string {
  const dir = tempOutdir();
  fs.writeFileSync(
    path.join(dir, 'manifest.json'),
    JSON.stringify({
      artifacts: {
        'assembly-App-Dev': { type: 'cdk:cloud-assembly', properties: { directoryName: 'assembly-App-Dev' } },
      },
    }),
  );
  fs.writeFileSync(
    path.join(dir, 'validation-report.json'),
    JSON.stringify({
      pluginReports: [
        {
          pluginName: 'AwsSolutions',
          violations: Array.from({ length: violations }, (_, i) => ({
            ruleName: 'AwsSolutions-S1',
            description: 'The S3 Bucket has server access logs disabled.',
            violatingConstructs: [{ constructPath: `App/Dev/Data/Bucket${i}/Resource` }],
          })),
        },
      ],
    }),
  );
  const stageDir = path.join(dir, 'assembly-App-Dev');
  fs.mkdirSync(stageDir);
  fs.writeFileSync(
    path.join(stageDir, 'manifest.json'),
    JSON.stringify({
      artifacts: {
        AppDevData: { type: 'aws:cloudformation:stack', additionalMetadataFile: 'AppDevData.metadata.json' },
      },
    }),
  );
  fs.writeFileSync(
    path.join(stageDir, 'AppDevData.metadata.json'),
    JSON.stringify({
      '/App/Dev/Data/Logs': [
        { type: 'aws:cdk:logicalId', data: 'Logs' },
        {
          type: 'aws:cdk:acknowledged-rules',
          data: { 'cdk-validator-cfnguard::s3_bucket_logging_enabled_check': 'log destination; would loop' },
        },
      ],
    }),
  );
  return dir;
}

describe('compliance report', () => {
  it('reads only the assemblies the manifest names, not a stale one an earlier synth left in cdk.out', () => {
    const dir = fixture(0);
    const stale = path.join(dir, 'assembly-Sandbox');
    fs.mkdirSync(stale);
    fs.copyFileSync(path.join(dir, 'assembly-App-Dev', 'manifest.json'), path.join(stale, 'manifest.json'));
    fs.copyFileSync(
      path.join(dir, 'assembly-App-Dev', 'AppDevData.metadata.json'),
      path.join(stale, 'AppDevData.metadata.json'),
    );
    const result = readCompliance(dir);
    expect(result.acknowledgements.map((a) => a.stage)).toEqual(['Dev']);
    expect(summaryLine(result)).toMatch(/1 acknowledgements across .* and 1 assemblies$/);
  });

  it('passes with no open finding and lists each acknowledgement with stage, rule, resource and reason', () => {
    const result = readCompliance(fixture(0));
    expect(summaryLine(result)).toMatch(/^PASS: 0 open findings, 1 acknowledgements/);
    expect(result.acknowledgements).toEqual([
      {
        stage: 'Dev',
        pack: 'cdk-validator-cfnguard',
        rule: 's3_bucket_logging_enabled_check',
        path: 'App/Dev/Data/Logs',
        reason: 'log destination; would loop',
      },
    ]);
    const markdown = renderMarkdown(result);
    expect(markdown).toContain('Reason: log destination; would loop');
    expect(markdown).toContain('| cfn-guard Control Tower | 0 | 1 | 1 |');
    expect(renderHtml(markdown)).toContain('<code>s3_bucket_logging_enabled_check</code>');
  });

  it('fails and names each open finding', () => {
    const result = readCompliance(fixture(2));
    expect(summaryLine(result)).toMatch(/^FAIL: 2 open findings/);
    expect(renderMarkdown(result)).toContain(
      '**AwsSolutions::AwsSolutions-S1** on `App/Dev/Data/Bucket1/Resource`',
    );
  });

  it('shows new and removed acknowledgements first when given the previous report', () => {
    const current = readCompliance(fixture(0));
    const previous = {
      ...current,
      acknowledgements: [{ ...current.acknowledgements[0], path: 'App/Dev/Old' }],
    };
    const diff = diffCompliance(previous, current);
    expect(diff.added.map((a) => a.path)).toEqual(['App/Dev/Data/Logs']);
    expect(diff.removed.map((a) => a.path)).toEqual(['App/Dev/Old']);
    const markdown = renderMarkdown(current, previous);
    expect(markdown.indexOf('New acknowledgements (1)')).toBeLessThan(markdown.indexOf('## Totals'));
  });

  it('tells the user to synth first when there is no assembly', () => {
    expect(() => readCompliance(tempOutdir())).toThrow(/run `npm run synth` first/);
  });
});
