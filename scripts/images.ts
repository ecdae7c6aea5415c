/**
 * Builds the model server and batch scorer images with a local engine (see container-engine.ts):
 *
 *   npm run images [-- --no-cache] [-- --only model|batch]
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { parseCli } from './cli';
import {
  docker,
  dockerEnv,
  ensureEngine,
  ensureLocalBase,
  IMAGE_CONTEXTS,
  IMAGE_DOCKERFILES,
  type Engine,
} from './container-engine';

/** The images the project builds, by component. */
export type ImageComponent = keyof typeof IMAGE_DOCKERFILES;

/** Local tag of a component's image (what `npm run test:images` runs). */
export function imageTag(component: ImageComponent): string {
  return `ml-inference/${component}:local`;
}

/** One build's figures. */
export interface ImageBuild {
  readonly component: ImageComponent;
  readonly tag: string;
  readonly seconds: number;
  readonly bytes: number;
}

/** Lines of the CLI's own warning about the classic builder (BuildKit needs the buildx plugin). */
const BUILDER_NOTICE =
  /^(DEPRECATED: The legacy builder|\s+BuildKit is currently disabled|\s+environment-variable\.|\s*$)/;

function build(
  engine: Engine,
  component: ImageComponent,
  nodeImage: string,
  noCache: boolean,
  progress: (line: string) => void,
): Promise<void> {
  const context = IMAGE_CONTEXTS[component];
  const args = [
    'build',
    '--file',
    IMAGE_DOCKERFILES[component],
    '--network',
    'host',
    '--build-arg',
    `NODE_IMAGE=${nodeImage}`,
    '-t',
    imageTag(component),
  ];
  if (noCache) args.push('--no-cache');
  const child = spawn('docker', [...args, context], {
    env: dockerEnv(engine),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    output.push(line);
    if (line.startsWith('Step ')) progress(`${component}: ${line}`);
  });
  createInterface({ input: child.stderr }).on('line', (line) => {
    if (!BUILDER_NOTICE.test(line)) output.push(line);
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`building ${component} failed (exit ${code}):\n${output.slice(-40).join('\n')}`));
    });
  });
}

/** Builds the images (the local Node base first, once) and returns their build time and size. */
export async function buildImages(
  options: {
    readonly components?: readonly ImageComponent[];
    readonly noCache?: boolean;
    readonly progress?: (line: string) => void;
  } = {},
): Promise<ImageBuild[]> {
  const progress = options.progress ?? (() => undefined);
  const engine = await ensureEngine(progress);
  const nodeImage = ensureLocalBase(engine, progress);
  const builds: ImageBuild[] = [];
  for (const component of options.components ?? (Object.keys(IMAGE_DOCKERFILES) as ImageComponent[])) {
    progress(`building ${imageTag(component)} from ${nodeImage}${options.noCache ? ' (no cache)' : ''}`);
    const started = performance.now();
    await build(engine, component, nodeImage, options.noCache ?? false, progress);
    const seconds = (performance.now() - started) / 1000;
    const bytes = Number(
      docker(engine, ['image', 'inspect', '--format', '{{.Size}}', imageTag(component)]).trim(),
    );
    builds.push({ component, tag: imageTag(component), seconds, bytes });
  }
  return builds;
}

/** The builds as an aligned table. */
export function formatBuilds(builds: readonly ImageBuild[]): string {
  const rows = builds.map(
    (b) =>
      `  ${b.tag.padEnd(26)} ${b.seconds.toFixed(1).padStart(6)} s  ${(b.bytes / 1e6).toFixed(0).padStart(5)} MB`,
  );
  return [`  ${'image'.padEnd(26)} ${'build'.padStart(8)}  ${'size'.padStart(8)}`, ...rows].join('\n');
}

const USAGE = `Usage: npm run images [-- --no-cache] [-- --only model|batch]

Builds the model server (services/model) and batch scorer (services/batch) images as
${imageTag('model')} and ${imageTag('batch')}, on a local Node base image standing in for the
Dockerfiles' public NODE_IMAGE. Starts (and if needed installs, as root) a container engine
first: see \`npm run engine -- --help\`. Prints each image's build time and size.
  --no-cache     rebuild every layer (the cold build time; the base image stays cached)
  --only NAME    build one image: model or batch
  --help         this text`;

if (require.main === module) {
  const flags = parseCli(process.argv.slice(2), {
    usage: USAGE,
    flags: { 'no-cache': 'boolean', only: 'string' },
  });
  if (flags.only !== undefined && !(flags.only in IMAGE_DOCKERFILES)) {
    process.stderr.write(`--only must be model or batch, not "${flags.only}"\n`);
    process.exit(2);
  }
  const progress = (line: string) => process.stderr.write(`images: ${line}\n`);
  buildImages({
    components: flags.only ? [flags.only as ImageComponent] : undefined,
    noCache: flags['no-cache'] === true,
    progress,
  }).then(
    (builds) => process.stdout.write(`${formatBuilds(builds)}\n`),
    (error: unknown) => {
      process.stderr.write(`images: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
