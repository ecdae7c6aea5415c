/**
 * A release as the release store keeps it: the commit, every synthesized stack template of the
 * pipeline and its stages, and the compliance result. The same layout is used in S3 and in a local
 * directory, so local runs and the pipeline share one code path:
 *
 *   releases/latest.json              {"id": "<release id>"}
 *   releases/<id>/release.json        {@link ReleaseManifest}
 *   releases/<id>/templates/<file>    one template per stack
 *   releases/<id>/compliance.json     scripts/compliance.ts's ComplianceResult
 *   releases/<id>/dossier.{html,md,json}
 *   dossiers/<execution id>/dossier.{html,md,json}   the candidate's dossier, linked from the approval
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ComplianceResult } from '../../scripts/compliance';
import { Fields } from './fields';

/** The commit a release was built from. */
export interface CommitInfo {
  readonly id: string;
  readonly message: string | null;
  readonly author: string | null;
  /** ISO-8601 author time. */
  readonly time: string | null;
}

/** A CloudFormation template as JSON. */
export type Template = Record<string, unknown>;

/** One stack of a release. */
export interface ReleaseStack {
  /** The stack's display name, e.g. `MlInferencePipeline/Dev/Inference`; the key across releases. */
  readonly name: string;
  /** File name under `templates/`. */
  readonly file: string;
}

/** `release.json`. */
export interface ReleaseManifest {
  readonly id: string;
  readonly recordedAt: string;
  readonly commit: CommitInfo;
  readonly executionId: string | null;
  readonly stacks: readonly ReleaseStack[];
  /** Model versions serving when the release was recorded, by stage, when known. */
  readonly models?: Readonly<Record<string, string>>;
}

/** A release with its contents loaded. */
export interface Release {
  readonly manifest: ReleaseManifest;
  readonly templates: ReadonlyMap<string, Template>;
  readonly compliance: ComplianceResult;
}

/** The synthesized app: its stacks' templates by display name. */
export interface Synthesized {
  readonly templates: ReadonlyMap<string, Template>;
}

interface ManifestArtifact {
  readonly type: string;
  readonly displayName?: string;
  readonly properties?: { readonly templateFile?: string; readonly directoryName?: string };
}

/** Reads every stack template of a cloud assembly and its nested (stage) assemblies. */
export function readSynthesized(cdkOut: string): Synthesized {
  const templates = new Map<string, Template>();
  const visit = (dir: string): void => {
    const manifestPath = path.join(dir, 'manifest.json');
    if (!fs.existsSync(manifestPath)) {
      throw new Error(`No cloud assembly in ${dir}: run \`npm run synth\` first.`);
    }
    const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as {
      artifacts?: Record<string, ManifestArtifact>;
    };
    for (const [id, artifact] of Object.entries(manifest.artifacts ?? {})) {
      if (artifact.type === 'aws:cloudformation:stack' && artifact.properties?.templateFile) {
        const file = path.join(dir, artifact.properties.templateFile);
        templates.set(artifact.displayName ?? id, JSON.parse(fs.readFileSync(file, 'utf8')) as Template);
      } else if (artifact.type === 'cdk:cloud-assembly' && artifact.properties?.directoryName) {
        visit(path.join(dir, artifact.properties.directoryName));
      }
    }
  };
  visit(cdkOut);
  return { templates };
}

/** A release id: sortable, and names the commit (`20261201T193000Z-1a2b3c4`). */
export function releaseId(commit: CommitInfo, recordedAt: Date): string {
  const stamp = recordedAt
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${commit.id.slice(0, 7) || 'unknown'}`;
}

const templateFile = (stackName: string): string =>
  `${stackName.replace(/[^A-Za-z0-9._-]+/g, '--')}.template.json`;

/** Where a key-value store keeps its objects: an S3 bucket or a local directory. */
export interface BlobStore {
  /** Human-readable location, for messages (`s3://bucket/prefix`, a path). */
  readonly location: string;
  /** Whether an object exists (S3: ListObjectsV2 on exactly that key). */
  exists(key: string): Promise<boolean>;
  /** The object's text; throws when it is missing. */
  get(key: string): Promise<string>;
  put(key: string, body: string, contentType: string): Promise<void>;
}

/** A {@link BlobStore} in a local directory (for local runs and `--previous DIR`). */
export class DirectoryStore implements BlobStore {
  constructor(readonly location: string) {}
  exists(key: string): Promise<boolean> {
    return Promise.resolve(fs.existsSync(path.join(this.location, key)));
  }
  get(key: string): Promise<string> {
    return fs.promises.readFile(path.join(this.location, key), 'utf8');
  }
  async put(key: string, body: string): Promise<void> {
    const file = path.join(this.location, key);
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    await fs.promises.writeFile(file, body);
  }
}

/** The key of the pointer to the latest recorded release. */
export const LATEST_KEY = 'releases/latest.json';
/** Prefix of recorded releases. */
export const RELEASES_PREFIX = 'releases/';
/** Prefix of candidate dossiers (one folder per pipeline execution). */
export const DOSSIERS_PREFIX = 'dossiers/';

/** The dossier's files, as written to `--out` and uploaded. */
export const DOSSIER_FILES: readonly { readonly name: string; readonly contentType: string }[] = [
  { name: 'dossier.html', contentType: 'text/html; charset=utf-8' },
  { name: 'dossier.md', contentType: 'text/markdown; charset=utf-8' },
  { name: 'dossier.json', contentType: 'application/json' },
];

/** Thrown when a stored release file is not of its contract's shape; names the file and field. */
export class ReleaseRecordError extends Error {
  override readonly name = 'ReleaseRecordError';
}

/** A release id as {@link releaseId} makes it: also a store key, so nothing that leaves its folder. */
const RELEASE_ID = /^[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9._-]{1,40}$/;
/** A template file name as `templateFile` makes it. */
const TEMPLATE_FILE = /^[A-Za-z0-9][A-Za-z0-9._-]*\.template\.json$/;

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ReleaseRecordError(`${where} is not JSON: ${(error as Error).message}`);
  }
}

/** A class whose messages start with the file they are about. */
const errorIn = (file: string) =>
  class extends ReleaseRecordError {
    constructor(message: string) {
      super(`${file}: ${message}`);
    }
  };

/** Checks a commit record (release.json's `commit`, or the dossier's own). */
export function commitOf(f: Fields): CommitInfo {
  return {
    id: f.string('id', /^[0-9A-Za-z]{1,64}$/, 'a commit id (letters and digits)'),
    message: f.stringOrNull('message'),
    author: f.stringOrNull('author'),
    time: f.isoOrNull('time'),
  };
}

/** Parses and checks `release.json`. */
export function parseReleaseManifest(text: string, file = 'release.json'): ReleaseManifest {
  const error = errorIn(file);
  const m = Fields.of(parseJson(text, file), '', error);
  const models = m.stringRecord('models');
  return {
    id: m.string('id', RELEASE_ID, 'a release id (20261201T193000Z-1a2b3c4)'),
    recordedAt: m.iso('recordedAt'),
    commit: commitOf(m.object('commit')),
    executionId: m.stringOrNull('executionId'),
    stacks: m.array('stacks', (item, where) => {
      const s = Fields.of(item, where, error);
      return {
        name: s.string('name'),
        file: s.string('file', TEMPLATE_FILE, 'a template file name (no folders)'),
      };
    }),
    ...(models ? { models } : {}),
  };
}

/** Parses and checks a stored `compliance.json` (scripts/compliance.ts's ComplianceResult). */
export function parseComplianceResult(text: string, file = 'compliance.json'): ComplianceResult {
  const error = errorIn(file);
  const c = Fields.of(parseJson(text, file), '', error);
  return {
    packs: c.strings('packs'),
    open: c.array('open', (item, where) => {
      const o = Fields.of(item, where, error);
      return {
        pack: o.string('pack'),
        rule: o.string('rule'),
        description: o.string('description'),
        path: o.string('path'),
      };
    }),
    acknowledgements: c.array('acknowledgements', (item, where) => {
      const a = Fields.of(item, where, error);
      return {
        stage: a.string('stage'),
        pack: a.string('pack'),
        rule: a.string('rule'),
        path: a.string('path'),
        reason: a.string('reason'),
      };
    }),
  };
}

function templateOf(text: string, file: string): Template {
  const value = parseJson(text, file);
  Fields.of(value, '', errorIn(file));
  return value as Template;
}

/** Loads the release whose folder is `prefix` (ends with `/`) in `store`, checking every file it reads. */
export async function loadRelease(store: BlobStore, prefix: string): Promise<Release> {
  const manifest = parseReleaseManifest(await store.get(`${prefix}release.json`), `${prefix}release.json`);
  const templates = new Map<string, Template>();
  for (const stack of manifest.stacks) {
    const key = `${prefix}templates/${stack.file}`;
    templates.set(stack.name, templateOf(await store.get(key), key));
  }
  const compliance = parseComplianceResult(
    await store.get(`${prefix}compliance.json`),
    `${prefix}compliance.json`,
  );
  return { manifest, templates, compliance };
}

/** The latest recorded release of a store, or undefined before the first one. */
export async function loadLatestRelease(store: BlobStore): Promise<Release | undefined> {
  if (!(await store.exists(LATEST_KEY))) return undefined;
  const pointer = Fields.of(parseJson(await store.get(LATEST_KEY), LATEST_KEY), '', errorIn(LATEST_KEY));
  const id = pointer.string('id', RELEASE_ID, 'a release id (20261201T193000Z-1a2b3c4)');
  return loadRelease(store, `${RELEASES_PREFIX}${id}/`);
}

/** Loads a release from a local directory holding `release.json` (a copy of `releases/<id>/`). */
export async function loadReleaseDirectory(dir: string): Promise<Release> {
  if (!fs.existsSync(path.join(dir, 'release.json'))) {
    throw new Error(
      `${dir} holds no release.json: pass a release folder (releases/<id>/ of a store written by --record).`,
    );
  }
  return loadRelease(new DirectoryStore(dir), '');
}

/** What {@link recordRelease} stores. */
export interface RecordInput {
  readonly commit: CommitInfo;
  readonly executionId: string | null;
  readonly recordedAt: Date;
  readonly synthesized: Synthesized;
  readonly compliance: ComplianceResult;
  readonly models?: Readonly<Record<string, string>>;
  /** The approved dossier's files by name, when there is one. */
  readonly dossier?: ReadonlyMap<string, string>;
}

/**
 * Records a release: its templates, compliance and dossier first, the `latest.json` pointer last,
 * so a failure half-way never leaves the pointer on an incomplete release.
 */
export async function recordRelease(store: BlobStore, input: RecordInput): Promise<ReleaseManifest> {
  const id = releaseId(input.commit, input.recordedAt);
  const prefix = `${RELEASES_PREFIX}${id}/`;
  const stacks = [...input.synthesized.templates.keys()]
    .sort()
    .map((name) => ({ name, file: templateFile(name) }));
  for (const stack of stacks) {
    await store.put(
      `${prefix}templates/${stack.file}`,
      JSON.stringify(input.synthesized.templates.get(stack.name)),
      'application/json',
    );
  }
  await store.put(
    `${prefix}compliance.json`,
    `${JSON.stringify(input.compliance, null, 2)}\n`,
    'application/json',
  );
  for (const file of DOSSIER_FILES) {
    const body = input.dossier?.get(file.name);
    if (body !== undefined) await store.put(`${prefix}${file.name}`, body, file.contentType);
  }
  const manifest: ReleaseManifest = {
    id,
    recordedAt: input.recordedAt.toISOString(),
    commit: input.commit,
    executionId: input.executionId,
    stacks,
    ...(input.models ? { models: input.models } : {}),
  };
  await store.put(`${prefix}release.json`, `${JSON.stringify(manifest, null, 2)}\n`, 'application/json');
  await store.put(LATEST_KEY, `${JSON.stringify({ id })}\n`, 'application/json');
  return manifest;
}
