import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { docker } from '../../scripts/container-engine';
import { imageTag } from '../../scripts/images';
import { loadModelMetadata } from '../../services/model/artifacts';
import { FIXTURE_MODELS_DIR, type FixtureVersion } from '../support/model-fixtures';
import { Containers, engineWithImage, freePort, pollUntil, unpackedModel } from './support/containers';

/**
 * The model server image run as SageMaker runs it: `docker run IMAGE serve`, as the image's user, the
 * version's model archive unpacked read-only at /opt/ml/model. The engine has no bridge network, so
 * the container shares the host's and listens on a free loopback port (`PORT`) instead of 8080.
 */
const image = imageTag('model');
const engine = engineWithImage('model');
const containers = new Containers(engine);
const figures: string[] = [];

afterAll(() => {
  containers.removeAll();
  const bytes = Number(docker(engine, ['image', 'inspect', '--format', '{{.Size}}', image]).trim());
  process.stdout.write(
    `model image ${image}: ${(bytes / 1e6).toFixed(0)} MB\n${figures.map((f) => `  ${f}\n`).join('')}`,
  );
});

function startServer(modelDir: string, port: number): string {
  return containers.start(image, {
    args: ['--env', `PORT=${port}`, '--volume', `${modelDir}:/opt/ml/model:ro`],
    command: ['serve'],
  });
}

/** A 3-class classifier, the 8-feature binary classifier and the regressor, as model:add made them. */
const versions: FixtureVersion[] = ['v2.0.0', 'v3.0.0', 'v4.0.0'];
const answerOf = (golden: { label: string } | { value: number }) =>
  'value' in golden ? golden.value : golden.label;

describe.each(versions)('model server image with %s', (version) => {
  const metadata = loadModelMetadata(version, FIXTURE_MODELS_DIR);
  let model: Awaited<ReturnType<typeof unpackedModel>>;
  let name: string;
  let base: string;
  let beforePing: number[];

  beforeAll(async () => {
    model = await unpackedModel(version);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const started = performance.now();
    name = startServer(model.dir, port);
    beforePing = await pollUntil(`${base}/ping`, 200, 30_000);
    figures.push(`${version}: docker run to /ping 200 in ${(performance.now() - started).toFixed(0)} ms`);
  });

  afterAll(async () => {
    await model?.remove();
  });

  it('runs as the non-root user the image names', () => {
    expect(containers.inspect(image, '{{.Config.User}}')).toBe('node');
    // The host's view of the container's process: its real uid, not what the image claims.
    const pid = containers.inspect(name, '{{.State.Pid}}');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).not.toBe('0');
  });

  it('answers /ping only once the mounted version is loaded', async () => {
    expect(beforePing.every((status) => status === 0 || status === 503)).toBe(true);
    const ping = await fetch(`${base}/ping`);
    expect(await ping.json()).toEqual({ status: 'ok', modelVersion: version });
  });

  it('answers the golden predictions of its metadata, one row and a batch', async () => {
    for (const golden of metadata.golden) {
      const res = await fetch(`${base}/invocations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(golden.features),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as {
        modelVersion: string;
        predictions: ({ label: string } | { value: number })[];
      };
      expect(body.modelVersion).toBe(version);
      expect(body.predictions.map(answerOf)).toEqual([answerOf(golden)]);
    }
    const batch = await fetch(`${base}/invocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instances: metadata.golden.map((g) => g.features) }),
    });
    const body = (await batch.json()) as { predictions: ({ label: string } | { value: number })[] };
    expect(body.predictions.map(answerOf)).toEqual(metadata.golden.map(answerOf));
  });

  it('cannot change the model it serves (mounted read-only)', () => {
    expect(containers.inspect(name, '{{range .Mounts}}{{.Destination}} {{.RW}}{{end}}')).toBe(
      '/opt/ml/model false',
    );
  });

  it('stops gracefully on SIGTERM, well inside the 30 s SageMaker allows', async () => {
    const stopped = performance.now();
    const exit = containers.wait(name, 30_000);
    docker(engine, ['kill', '--signal', 'SIGTERM', name]);
    expect(await exit).toBe(0);
    const seconds = (performance.now() - stopped) / 1000;
    expect(seconds).toBeLessThan(10);
    expect(containers.logs(name)).toContain('"signal":"SIGTERM"');
    figures.push(`${version}: SIGTERM to exit 0 in ${(seconds * 1000).toFixed(0)} ms`);
  });
});

describe('model server image without a loadable model', () => {
  it('never answers /ping 200 and exits non-zero, so SageMaker fails the deployment', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'image-model-empty-'));
    try {
      await chmod(empty, 0o755);
      const port = await freePort();
      const name = startServer(empty, port);
      const code = await containers.wait(name, 30_000);
      expect(code).not.toBe(0);
      expect(containers.logs(name)).toContain('model failed to load');
      const ping = await fetch(`http://127.0.0.1:${port}/ping`).then(
        (res) => res.status,
        () => 0,
      );
      expect(ping).not.toBe(200);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
