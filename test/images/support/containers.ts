import { spawn, spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { docker, findRunningEngine, type Engine } from '../../../scripts/container-engine';
import { imageTag, type ImageComponent } from '../../../scripts/images';
import { FIXTURE_MODELS_DIR } from '../../support/model-fixtures';
import { extractModelArchive, modelArchivePath, type ModelVersion } from '../../../services/model/artifacts';

/** Every container these tests start carries this label, so a crashed run's leftovers are found too. */
const LABEL = 'ml-inference-image-test';

/** The running engine and the built image, or an error saying how to get them. */
export function engineWithImage(component: ImageComponent): Engine {
  const engine = findRunningEngine();
  if (!engine) throw new Error('no container engine is running: use `npm run test:images`, which starts one');
  try {
    docker(engine, ['image', 'inspect', imageTag(component)]);
  } catch {
    throw new Error(`image ${imageTag(component)} is missing: \`npm run images\` builds it`);
  }
  return engine;
}

/** A free loopback TCP port (containers use the host network: the engine runs without a bridge). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Starts containers and removes every one of them (and earlier runs' leftovers) on {@link removeAll}. */
export class Containers {
  private readonly names: string[] = [];
  private count = 0;

  constructor(private readonly engine: Engine) {
    this.removeLabelled();
  }

  /** `docker run -d` with the test label and the host network; resolves to the container name. */
  start(image: string, options: { args?: readonly string[]; command?: readonly string[] } = {}): string {
    const name = `${LABEL}-${process.pid}-${++this.count}`;
    docker(this.engine, [
      'run',
      '--detach',
      '--name',
      name,
      '--label',
      LABEL,
      '--network',
      'host',
      ...(options.args ?? []),
      image,
      ...(options.command ?? []),
    ]);
    this.names.push(name);
    return name;
  }

  /** Waits for a container to exit; resolves to its exit code. */
  wait(name: string, timeoutMs: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const child = spawn('docker', ['wait', name], {
        env: { ...process.env, DOCKER_HOST: this.engine.dockerHost },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      const timer = setTimeout(() => {
        child.kill();
        reject(new Error(`container ${name} still running after ${timeoutMs} ms:\n${this.logs(name)}`));
      }, timeoutMs);
      child.once('close', () => {
        clearTimeout(timer);
        const code = Number(out.trim());
        if (out.trim() === '' || Number.isNaN(code)) reject(new Error(`docker wait ${name} gave "${out}"`));
        else resolve(code);
      });
    });
  }

  /** The container's output, stdout then stderr (the scorer reports configuration errors on stderr). */
  logs(name: string): string {
    const result = spawnSync('docker', ['logs', name], {
      env: { ...process.env, DOCKER_HOST: this.engine.dockerHost },
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    return result.error ? String(result.error) : `${result.stdout}${result.stderr}`;
  }

  inspect(name: string, format: string): string {
    return docker(this.engine, ['inspect', '--format', format, name]).trim();
  }

  removeAll(): void {
    if (this.names.length > 0) docker(this.engine, ['rm', '--force', '--volumes', ...this.names]);
    this.names.length = 0;
  }

  private removeLabelled(): void {
    const leftovers = docker(this.engine, ['ps', '--all', '--quiet', '--filter', `label=${LABEL}`])
      .split('\n')
      .filter(Boolean);
    if (leftovers.length > 0) docker(this.engine, ['rm', '--force', ...leftovers]);
  }
}

/**
 * A version's `model.tar.gz` unpacked as SageMaker does for `/opt/ml/model`, readable by any user
 * (the image runs as a non-root user; the directory is mounted read-only).
 */
export async function unpackedModel(
  version: ModelVersion,
  root = FIXTURE_MODELS_DIR,
): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `image-model-${version}-`));
  await extractModelArchive(modelArchivePath(version, root), dir);
  await chmod(dir, 0o755);
  for (const file of await readdir(dir)) await chmod(join(dir, file), 0o644);
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Polls `url` until it answers `status`; resolves to the statuses seen before (0 = no connection). */
export async function pollUntil(url: string, status: number, timeoutMs: number): Promise<number[]> {
  const seen: number[] = [];
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const answered = await fetch(url).then(
      (res) => res.status,
      () => 0,
    );
    if (answered === status) return seen;
    seen.push(answered);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(
    `${url} did not answer ${status} within ${timeoutMs} ms (saw ${[...new Set(seen)].join(', ')})`,
  );
}
