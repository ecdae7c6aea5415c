import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '../../bin/config';
import type { AppConfig } from '../../lib/stages/stage-config';
import { SsmRegistryReader, type RegistryReader } from './adapters/registry';
import { modelsRoot } from '../model/artifacts';
import { guard } from './guard';
import { MODEL_VERSIONS_FILE, readModelVersions } from './model-versions';
import { archiveSha256 } from './rejections';
import { parseStageCommand } from './stage-command';
import { explainReadFailure, registryClient, stageRegistry, type StageRegistry } from './stage-registry';

/** Where the pipeline's guard step writes its report (docs/CONTRACTS.md). */
export const DEFAULT_GUARD_REPORT = 'reports/guard.json';

export const usage = `Usage: npm run guard -- --stage dev|prod [options]

Before a wave deploys: reads the stage's model registry (Parameter Store) and fails when the
commit's config/model-versions.json would go backwards there: a baseline or candidate older than
the version the stage serves (unless the commit declares "rollback"), or a model a canary rollout
already rejected, by name or by content (the SHA-256 of its model.tar.gz, under any name). Any
error reading the registry fails it. Prints what it checked and writes a JSON report.

Options:
  --stage dev|prod     the stage to check (required)
  --role-arn ARN       role to assume first (the stage's registry reader role; default: current credentials)
  --report FILE        JSON report (default ${DEFAULT_GUARD_REPORT})
  --commit SHA         commit being deployed, recorded in the report (default: $COMMIT_ID)
  --file FILE          model versions file (default config/model-versions.json)
  --models DIR         the commit's model folders, whose model.tar.gz SHA-256s are compared with the
                       archives rollouts rejected (default models/)
  --not-deployed       the stage has never been deployed (the pipeline checked): record that and pass
                       without reading the registry
  --help               show this text

Exits 0 when the commit may deploy, 1 when it may not (the message names the field and the value
to set) or the registry cannot be read, 2 on bad arguments.`;

/** Where the CLI writes, and what it may be given instead of the real world (tests). */
export interface GuardIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly config?: AppConfig;
  readonly reader?: (registry: StageRegistry, roleArn?: string) => RegistryReader;
  readonly now?: () => Date;
  /** Folder of the version folders whose archives are checked. @default the repository's `models/` */
  readonly modelsDir?: string;
}

/** Runs the guard; resolves to the exit code. */
export async function runGuard(argv: readonly string[], io: GuardIo): Promise<number> {
  const parsed = parseStageCommand(
    'guard',
    argv,
    {
      report: { type: 'string' },
      commit: { type: 'string' },
      'not-deployed': { type: 'boolean' },
      models: { type: 'string' },
    } as const,
    usage,
    io,
  );
  if (typeof parsed === 'number') return parsed;
  const { stage, values } = parsed;
  const reportFile = values.report ?? DEFAULT_GUARD_REPORT;
  let versions;
  try {
    versions = readModelVersions(values.file ?? MODEL_VERSIONS_FILE)[stage];
  } catch (error) {
    io.err(`guard: ${(error as Error).message}`);
    return 1;
  }
  const registry = stageRegistry(io.config ?? loadConfig(), stage);
  io.out(
    `guard: ${stage}: commit says baseline ${versions.baselineVersion}, candidate ${versions.candidateVersion}`,
  );
  if (!values['not-deployed']) {
    io.out(`guard: reading ${registry.prefix} in ${registry.account} (${registry.region})`);
  }
  const reader = (io.reader ?? ((r, role) => new SsmRegistryReader(registryClient(r, role))))(
    registry,
    values['role-arn'],
  );
  const archives: Record<string, string> = {};
  for (const version of [versions.baselineVersion, versions.candidateVersion]) {
    const sha256 = archiveSha256(version, values.models ?? io.modelsDir ?? modelsRoot);
    if (sha256) archives[version] = sha256;
  }
  let snapshot;
  try {
    snapshot = values['not-deployed']
      ? { prefix: registry.prefix, statuses: {}, rejectedArchives: {} }
      : await reader.read(
          registry.prefix,
          [versions.baselineVersion, versions.candidateVersion],
          Object.values(archives),
        );
  } catch (error) {
    io.err(`guard: ${explainReadFailure(error, registry, 'The guard')}`);
    return 1;
  }
  if (values['not-deployed'])
    io.out(`guard: ${stage} has never been deployed by this pipeline; nothing to compare`);
  const report = guard({
    stage,
    versions,
    registry: snapshot,
    archives,
    commit: values.commit ?? io.env.COMMIT_ID,
    now: (io.now ?? (() => new Date()))(),
  });
  io.out(
    `guard: ${stage} serves ${report.registry.activeVersion ?? '(nothing recorded)'}; ` +
      `baseline ${report.registry.baselineStatus}, candidate ${report.registry.candidateStatus}`,
  );
  for (const note of report.notes) io.out(`guard: note: ${note}`);
  mkdirSync(path.dirname(path.resolve(reportFile)), { recursive: true });
  writeFileSync(reportFile, `${JSON.stringify(report, null, 2)}\n`);
  if (report.outcome === 'fail') {
    for (const problem of report.problems) io.err(`guard: FAIL ${problem.field}: ${problem.message}`);
    io.err(`guard: ${stage} not deployed; report in ${reportFile}`);
    return 1;
  }
  io.out(
    `guard: PASS ${stage}${report.intendedRollback ? ' (intended rollback)' : ''}; report in ${reportFile}`,
  );
  return 0;
}

if (require.main === module) {
  runGuard(process.argv.slice(2), {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    env: process.env,
  }).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`guard: ${(error as Error).stack ?? String(error)}\n`);
      process.exit(1);
    },
  );
}
