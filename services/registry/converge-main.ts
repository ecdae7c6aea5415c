import { readFileSync, writeFileSync } from 'node:fs';
import { loadConfig } from '../../bin/config';
import type { AppConfig } from '../../lib/stages/stage-config';
import { listModelVersions } from '../model/artifacts';
import { SsmRegistryReader, type RegistryReader } from './adapters/registry';
import { planConvergence, unifiedDiff } from './converge';
import {
  formatModelVersions,
  MODEL_VERSIONS_DISPLAY,
  MODEL_VERSIONS_FILE,
  parseModelVersions,
} from './model-versions';
import { parseStageCommand } from './stage-command';
import { explainReadFailure, registryClient, stageRegistry, type StageRegistry } from './stage-registry';

export const usage = `Usage: npm run converge -- --stage dev|prod [--dry-run] [options]

After a canary rollout decided (promoted or rolled back), makes the repository say what the stage
serves: reads the stage's model registry (Parameter Store) and rewrites the stage's entry in
config/model-versions.json so the baseline is the version the stage serves after its last
decision and a decided candidate is no longer proposed. Commit the result.

Options:
  --stage dev|prod     the stage to converge (required)
  --dry-run            print the change as a diff, write nothing
  --role-arn ARN       role to assume first (the stage's registry reader role; default: current credentials)
  --file FILE          model versions file (default config/model-versions.json)
  --help               show this text

Needs credentials for the stage's account that may read its registry (ssm:GetParameter on
/<project>/<stage>/model/*). Exits 0 when converged (or nothing to do), 1 when the registry cannot
be read or names a version without artifacts, 2 on bad arguments.`;

/** Where the CLI writes, and what it may be given instead of the real world (tests). */
export interface ConvergeIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly config?: AppConfig;
  readonly reader?: (registry: StageRegistry, roleArn?: string) => RegistryReader;
  /** Folder of the version folders. @default the repository's models/ */
  readonly modelsDir?: string;
}

/** Runs converge; resolves to the exit code. */
export async function runConverge(argv: readonly string[], io: ConvergeIo): Promise<number> {
  const parsed = parseStageCommand('converge', argv, { 'dry-run': { type: 'boolean' } } as const, usage, io);
  if (typeof parsed === 'number') return parsed;
  const { stage, values } = parsed;
  const file = values.file ?? MODEL_VERSIONS_FILE;
  let before: string;
  let current;
  try {
    before = readFileSync(file, 'utf8');
    current = parseModelVersions(before);
  } catch (error) {
    io.err(`converge: ${(error as Error).message}`);
    return 1;
  }
  const registry = stageRegistry(io.config ?? loadConfig(), stage);
  io.out(`converge: reading ${registry.prefix} in ${registry.account} (${registry.region})`);
  const reader = (io.reader ?? ((r, role) => new SsmRegistryReader(registryClient(r, role))))(
    registry,
    values['role-arn'],
  );
  const entry = current[stage];
  let snapshot;
  try {
    snapshot = await reader.read(registry.prefix, [entry.baselineVersion, entry.candidateVersion]);
  } catch (error) {
    io.err(`converge: ${explainReadFailure(error, registry, 'converge')}`);
    return 1;
  }
  const plan = planConvergence(stage, entry, snapshot);
  io.out(`converge: ${plan.summary}`);
  for (const version of [plan.next.baselineVersion, plan.next.candidateVersion]) {
    const known = listModelVersions(io.modelsDir);
    if (!known.includes(version)) {
      io.err(
        `converge: the registry says ${stage} serves ${version}, but models/${version} is not in this checkout ` +
          `(known: ${known.join(', ')}); check out the commit that added it, then run converge again`,
      );
      return 1;
    }
  }
  const after = formatModelVersions({ ...current, [stage]: plan.next });
  if (!plan.changed) {
    io.out(`converge: ${MODEL_VERSIONS_DISPLAY} already says what ${stage} serves; nothing to change`);
    return 0;
  }
  io.out(unifiedDiff(MODEL_VERSIONS_DISPLAY, before, after).replace(/\n$/, ''));
  if (values['dry-run']) {
    io.out('converge: --dry-run: nothing written');
    return 0;
  }
  writeFileSync(file, after);
  io.out(
    `converge: wrote ${MODEL_VERSIONS_DISPLAY}; commit it, e.g. git commit -am "converge ${stage}: ${plan.summary.replace(/^\w+: /, '')}"`,
  );
  return 0;
}

if (require.main === module) {
  runConverge(process.argv.slice(2), {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  }).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`converge: ${(error as Error).stack ?? String(error)}\n`);
      process.exit(1);
    },
  );
}
