/**
 * `npm run synth`: `cdk synth --quiet` with the compliance gate inside, then the compliance report,
 * ending with one line that says what was built and how the gate went. CDK writes "Bundling asset
 * <path>..." for every function it bundles (unconditionally, in AssetStaging); those lines are dropped
 * here, everything else the CLI and the app print passes through.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { readCompliance, writeReport } from './compliance';
import { parseCli } from './cli';

const USAGE = `Usage: npm run synth [-- --context KEY=VALUE] [-- --out DIR]

Synthesizes the pipeline and both stages into cdk.out/, offline, with no AWS credentials, running
every compliance check (cdk-nag AWS Solutions, NIST 800-53 R5 and HIPAA Security, cfn-guard Control
Tower rules, CloudFormation schema validation) on every stage; writes the compliance report to
cdk.out/compliance/ and ends with one line: the stacks and assemblies built, open findings,
acknowledgements and where the report is. Exits non-zero when the synth or the compliance gate fails.
  --context KEY=VALUE  CDK context, as cdk's -c (e.g. sandbox=true for one directly deployable stage)
  --out DIR            cloud assembly directory (default: cdk.out)
  --help               this text`;

/** The line CDK's AssetStaging writes before bundling each asset. */
export const BUNDLING_LINE = /^Bundling asset \S+\.\.\.$/;

/** Stacks and assemblies of a cloud assembly, nested stage assemblies included. */
export function countAssembly(dir: string): { stacks: number; assemblies: number } {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {
    artifacts?: Record<string, { type: string; properties?: { directoryName?: string } }>;
  };
  let stacks = 0;
  let assemblies = 1;
  for (const artifact of Object.values(manifest.artifacts ?? {})) {
    if (artifact.type === 'aws:cloudformation:stack') stacks += 1;
    else if (artifact.type === 'cdk:cloud-assembly' && artifact.properties?.directoryName) {
      const nested = countAssembly(path.join(dir, artifact.properties.directoryName));
      stacks += nested.stacks;
      assemblies += nested.assemblies;
    }
  }
  return { stacks, assemblies };
}

async function main(argv: string[]): Promise<number> {
  const flags = parseCli(argv, { usage: USAGE, flags: { context: 'string', out: 'string' } });
  const out = flags.out ?? 'cdk.out';
  const args = ['synth', '--quiet', '--output', out, ...(flags.context ? ['-c', flags.context] : [])];
  process.stderr.write(
    'synth: building the app into ' +
      `${out}/ with the compliance gate (bundling every function takes up to a minute)...\n`,
  );
  const cdk = spawn(path.join(__dirname, '..', 'node_modules', '.bin', 'cdk'), args, {
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  const lines = createInterface({ input: cdk.stderr });
  lines.on('line', (line) => {
    if (!BUNDLING_LINE.test(line)) process.stderr.write(`${line}\n`);
  });
  const code = await new Promise<number>((resolve) => cdk.on('close', (c) => resolve(c ?? 1)));
  if (code !== 0) {
    process.stderr.write(`synth: FAILED (cdk synth exited ${code}): the messages above say what to fix.\n`);
    return code;
  }
  const { stacks, assemblies } = countAssembly(out);
  const result = readCompliance(out);
  const reportDir = path.join(out, 'compliance');
  writeReport(result, reportDir);
  const gate = result.open.length === 0 ? 'passed' : 'FAILED';
  process.stdout.write(
    `Built ${stacks} stacks in ${assemblies} assemblies (${out}/); compliance gate ${gate}: ` +
      `${result.open.length} open findings, ${result.acknowledgements.length} acknowledgements; ` +
      `report ${path.join(reportDir, 'compliance.html')}\n`,
  );
  return result.open.length === 0 ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (error: unknown) => {
      process.stderr.write(`synth: ${(error as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
