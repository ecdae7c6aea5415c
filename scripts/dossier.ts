import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { S3Client } from '@aws-sdk/client-s3';
import { readCompliance } from './compliance';
import { parseS3Url, S3Store } from '../services/dossier/adapters/s3-store';
import { buildDossier, type ModelShape } from '../services/dossier/dossier';
import { Fields } from '../services/dossier/fields';
import { loadModelMetadata, modelsRoot } from '../services/model/artifacts';
import { parseJunit } from '../services/dossier/junit';
import {
  commitOf,
  DirectoryStore,
  DOSSIER_FILES,
  DOSSIERS_PREFIX,
  loadLatestRelease,
  loadReleaseDirectory,
  readSynthesized,
  recordRelease,
  type BlobStore,
  type CommitInfo,
} from '../services/dossier/release';
import { renderHtml, renderMarkdown, permissionSummary } from '../services/dossier/render';
import { isRolloutFailure, parseRolloutRecord } from '../services/dossier/rollout-record';
import { parseEvaluationReport } from '../services/dossier/quality';
import { qualityReportFile } from '../services/evaluation/report-file';
import { ruleCatalog } from '../services/dossier/rule-catalog';

export const USAGE = `Usage: npm run dossier -- [options]

Builds the approver's release dossier (dossier.html, dossier.md, dossier.json: one page) from a
synthesized app (run \`npm run synth && npm run compliance\` first): what changed since the last
approved release (permission changes first, then resources added, removed and replaced per stack,
then new and removed compliance acknowledgements), dev's smoke test and canary rollout, and the
model versions serving before and after. With --record, records the release instead.

Inputs
  --cdk-out DIR        cloud assembly to read (default: cdk.out)
  --previous DIR       compare against the release recorded in DIR (a releases/<id>/ folder of a
                       store, e.g. one written locally with --store DIR --record)
  --store S3URL|DIR    the release store: s3://BUCKET[/PREFIX] or a local directory. Without
                       --previous, the dossier compares against the store's latest release; the
                       first run (empty store) compares against nothing and says so
  --smoke FILE         dev smoke test JUnit XML (the SmokeTest step's reports/smoke-junit.xml)
  --rollout FILE       dev canary rollout record (scripts/run-rollout.sh --output FILE)
  --models-dir DIR     version folders the rollout's models are described from (task, features,
                       labels) (default: the repository's models/)
  --evaluation FILE    dev's offline evaluation (npm run evaluate --out; default: the Build's
                       quality/dev.json in --cdk-out, when it is there)
  --commit SHA         commit id (default: $COMMIT_ID, $CODEBUILD_RESOLVED_SOURCE_VERSION, git HEAD)
  --execution-id ID    pipeline execution id (default: $PIPELINE_EXECUTION_ID)
                       (message, author and time come from $COMMIT_MESSAGE, $COMMIT_AUTHOR,
                       $COMMIT_AUTHOR_DATE, else from git when the commit is in the local repository)

Outputs
  --out DIR            where the dossier is written, and read from by --record (default: dossier)
  --upload             also upload the dossier to the store under dossiers/<execution id>/ (the
                       approval action links there); needs --store and an execution id
  --record             record this release in --store after prod: templates of every stack, the
                       compliance result, the commit and the dossier in --out; the next dossier
                       compares against it
  --s3-endpoint URL    S3-compatible endpoint for local runs (e.g. s3rver at http://127.0.0.1:4568)
  --help               this text

Exit codes: 0 done, 1 failed (the message says what to fix), 2 unknown or invalid option.`;

/** Where output goes; tests capture it. */
export interface Io {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly now: () => Date;
}

const defaultIo: Io = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
  env: process.env,
  now: () => new Date(),
};

class UsageError extends Error {}

/** Task and shape of the versions whose metadata is under `root`; a version without a folder is left out. */
function modelShapes(versions: readonly string[], root: string): ModelShape[] {
  return versions.flatMap((version) => {
    let metadata;
    try {
      metadata = loadModelMetadata(version, root);
    } catch {
      return [];
    }
    const { task, featureCount } = metadata;
    return [
      { version, task, featureCount, ...(task === 'classification' ? { labels: metadata.labels } : {}) },
    ];
  });
}

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/** The commit: flags and the pipeline's variables first, then git metadata for what is missing. */
export function resolveCommit(flag: string | undefined, env: NodeJS.ProcessEnv): CommitInfo {
  const id = flag ?? env.COMMIT_ID ?? env.CODEBUILD_RESOLVED_SOURCE_VERSION ?? git(['rev-parse', 'HEAD']);
  if (!id)
    throw new Error('No commit id: pass --commit SHA, set COMMIT_ID, or run inside the git repository.');
  const fromGit = (format: string): string | null => git(['log', '-1', `--format=${format}`, id]) || null;
  const nonEmpty = (v: string | undefined): string | undefined => (v && v.trim() !== '' ? v : undefined);
  const commit = {
    id,
    message: nonEmpty(env.COMMIT_MESSAGE) ?? fromGit('%B'),
    author: nonEmpty(env.COMMIT_AUTHOR) ?? fromGit('%an <%ae>'),
    time: nonEmpty(env.COMMIT_AUTHOR_DATE) ?? fromGit('%aI'),
  };
  return commitOf(Fields.of(commit, 'commit', UsageError));
}

function openStore(location: string, endpoint: string | undefined, env: NodeJS.ProcessEnv): BlobStore {
  if (!location.startsWith('s3://')) return new DirectoryStore(path.resolve(location));
  const { bucket, prefix } = parseS3Url(location);
  const client = new S3Client({
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  return new S3Store(client, bucket, prefix);
}

function readFileOrFail(file: string, what: string): string {
  if (!fs.existsSync(file)) throw new Error(`${what} ${file} not found.`);
  return fs.readFileSync(file, 'utf8');
}

/** Runs the command; resolves to its exit code. */
export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        'cdk-out': { type: 'string' },
        previous: { type: 'string' },
        store: { type: 'string' },
        smoke: { type: 'string' },
        rollout: { type: 'string' },
        'models-dir': { type: 'string' },
        evaluation: { type: 'string' },
        commit: { type: 'string' },
        'execution-id': { type: 'string' },
        out: { type: 'string' },
        upload: { type: 'boolean' },
        record: { type: 'boolean' },
        's3-endpoint': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
    if (values.help) {
      io.out(USAGE);
      return 0;
    }
    if ((values.upload || values.record) && !values.store)
      throw new UsageError('--upload and --record need --store');
    if (values.record && (values.previous || values.upload)) {
      throw new UsageError('--record records a release; it does not take --previous or --upload');
    }
  } catch (error) {
    io.err(`dossier: ${(error as Error).message} (see --help)`);
    return 2;
  }
  const started = Date.now();
  const cdkOut = values['cdk-out'] ?? 'cdk.out';
  const outDir = values.out ?? 'dossier';
  const executionId = values['execution-id'] ?? (io.env.PIPELINE_EXECUTION_ID || null);
  let store: BlobStore | undefined;
  try {
    const commit = resolveCommit(values.commit, io.env);
    io.err(`dossier: reading ${cdkOut} (commit ${commit.id.slice(0, 12)})`);
    const synthesized = readSynthesized(cdkOut);
    const compliance = readCompliance(cdkOut);
    store = values.store ? openStore(values.store, values['s3-endpoint'], io.env) : undefined;

    if (values.record && store) {
      const dossier = new Map<string, string>();
      for (const file of DOSSIER_FILES) {
        const full = path.join(outDir, file.name);
        if (fs.existsSync(full)) dossier.set(file.name, fs.readFileSync(full, 'utf8'));
      }
      if (dossier.size === 0) io.err(`dossier: no dossier in ${outDir}; recording the release without one`);
      const manifest = await recordRelease(store, {
        commit,
        executionId,
        recordedAt: io.now(),
        synthesized,
        compliance,
        dossier,
      });
      io.out(
        `Recorded release ${manifest.id} (${manifest.stacks.length} stacks, ${compliance.acknowledgements.length} acknowledgements) in ${store.location}`,
      );
      return 0;
    }

    let previous;
    if (values.previous) {
      io.err(`dossier: comparing against the release in ${values.previous}`);
      previous = await loadReleaseDirectory(values.previous);
    } else if (store) {
      io.err(`dossier: reading the latest release from ${store.location}`);
      const location = store.location;
      previous = await loadLatestRelease(store).catch((error: Error) => {
        throw new Error(
          `could not read the latest release from ${location} (${error.name}: ${error.message}). ` +
            'Check --store, and that this role may list releases/latest.json and read releases/*.',
        );
      });
    }
    io.err(
      previous
        ? `dossier: previous release ${previous.manifest.id}`
        : 'dossier: no previous release: comparing against nothing',
    );
    const smoke = values.smoke ? parseJunit(readFileOrFail(values.smoke, 'Smoke test report')) : undefined;
    const rollout = values.rollout
      ? parseRolloutRecord(readFileOrFail(values.rollout, 'Rollout record'))
      : undefined;
    const evaluationFile = values.evaluation ?? path.join(cdkOut, qualityReportFile('dev'));
    const evaluation =
      values.evaluation !== undefined || fs.existsSync(evaluationFile)
        ? parseEvaluationReport(readFileOrFail(evaluationFile, 'Offline evaluation report'))
        : undefined;
    io.err('dossier: diffing templates and compliance');
    const dossier = buildDossier({
      commit,
      executionId,
      synthesized,
      compliance,
      previous,
      smoke,
      rollout,
      modelShapes:
        rollout && !isRolloutFailure(rollout)
          ? modelShapes(
              [rollout.baselineVersion, rollout.candidateVersion],
              values['models-dir'] ?? modelsRoot,
            )
          : [],
      evaluation,
      catalog: ruleCatalog(),
      now: io.now(),
    });
    const bodies = new Map<string, string>([
      ['dossier.html', renderHtml(dossier)],
      ['dossier.md', renderMarkdown(dossier)],
      ['dossier.json', `${JSON.stringify(dossier, null, 2)}\n`],
    ]);
    fs.mkdirSync(outDir, { recursive: true });
    for (const [name, body] of bodies) fs.writeFileSync(path.join(outDir, name), body);
    if (values.upload && store) {
      if (!executionId)
        throw new Error(
          '--upload needs the pipeline execution id: pass --execution-id or set PIPELINE_EXECUTION_ID.',
        );
      for (const file of DOSSIER_FILES) {
        await store.put(
          `${DOSSIERS_PREFIX}${executionId}/${file.name}`,
          bodies.get(file.name)!,
          file.contentType,
        );
      }
      io.out(`Uploaded to ${store.location}${DOSSIERS_PREFIX}${executionId}/dossier.html`);
    }
    const permissions = permissionSummary(dossier);
    for (const line of permissions.slice(0, 10)) io.out(`  permission ${line}`);
    if (permissions.length > 10)
      io.out(`  ... and ${permissions.length - 10} more permission changes in the dossier`);
    const size = (name: string): string => `${(Buffer.byteLength(bodies.get(name)!) / 1024).toFixed(1)} KB`;
    io.out(dossier.headline);
    io.out(
      `Dossier: ${path.join(outDir, 'dossier.html')} (${size('dossier.html')}; .md ${size('dossier.md')}, .json ${size('dossier.json')}) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    return 0;
  } catch (error) {
    io.err(`dossier: ${(error as Error).message}`);
    return 1;
  } finally {
    if (store instanceof S3Store) store.close();
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
