import * as fs from 'node:fs';
import * as path from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { main, type Io } from '../../scripts/dossier';
import { startLocalS3, type LocalS3 } from '../batch/support/local-aws';
import { tempOutdir } from '../support/cdk-app';
import { useLocalAwsEnv } from '../support/local-aws';
import { synthReleaseApp } from './support/release-app';

const fixtures = path.join(__dirname, 'fixtures');
const BUCKET = 'release-store';
let s3: LocalS3;
let restoreEnv: () => void;
let base: string;
let withGrant: string;

/** Runs the CLI in-process, as the pipeline's Dossier and RecordRelease steps run it. */
async function run(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    env: { ...process.env, ...env },
    now: () => new Date(),
  };
  const code = await main(args, io);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const storeArgs = (): string[] => ['--store', `s3://${BUCKET}`, '--s3-endpoint', s3.endpoint];
const body = async (key: string): Promise<{ text: string; contentType?: string }> => {
  const answer = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return { text: await answer.Body!.transformToString(), contentType: answer.ContentType };
};

beforeAll(async () => {
  s3 = await startLocalS3([BUCKET]);
  restoreEnv = useLocalAwsEnv({ AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' });
  base = synthReleaseApp();
  withGrant = synthReleaseApp({ grantRead: true });
});

afterAll(async () => {
  restoreEnv();
  await s3.close();
});

describe('npm run dossier against a release store in S3 (s3rver)', () => {
  it('records releases and compares the next dossier with the latest one', async () => {
    // 1. First pipeline run: the store is empty, so the dossier compares against nothing.
    const out1 = tempOutdir();
    const first = await run(
      [
        '--cdk-out',
        base,
        ...storeArgs(),
        '--out',
        out1,
        '--upload',
        '--smoke',
        path.join(fixtures, 'smoke-junit.xml'),
        '--rollout',
        path.join(fixtures, 'rollout.json'),
      ],
      { COMMIT_ID: '1111111aaaaaaaaa', COMMIT_MESSAGE: 'First model', PIPELINE_EXECUTION_ID: 'exec-1' },
    );
    expect(first).toMatchObject({ code: 0 });
    expect(first.out).toContain('First release: compared against nothing');
    const uploaded = await body('dossiers/exec-1/dossier.html');
    expect(uploaded.contentType).toMatch(/^text\/html/);
    expect(uploaded.text).toBe(fs.readFileSync(path.join(out1, 'dossier.html'), 'utf8'));
    expect(uploaded.text).toContain('First model');

    // 2. Prod succeeded: RecordRelease records it with that dossier.
    const recorded = await run(['--cdk-out', base, ...storeArgs(), '--out', out1, '--record'], {
      COMMIT_ID: '1111111aaaaaaaaa',
      PIPELINE_EXECUTION_ID: 'exec-1',
    });
    expect(recorded.code).toBe(0);
    const { id } = JSON.parse((await body('releases/latest.json')).text) as { id: string };
    expect(id).toMatch(/^\d{8}T\d{6}Z-1111111$/);
    expect(recorded.out).toContain(`Recorded release ${id}`);
    expect((await s3.keys(BUCKET, `releases/${id}/`)).sort()).toEqual(
      [
        'compliance.json',
        'dossier.html',
        'dossier.json',
        'dossier.md',
        'release.json',
        'templates/Pipeline--Dev--Service.template.json',
        'templates/Pipeline.template.json',
      ].map((k) => `releases/${id}/${k}`),
    );

    // 3. Next run adds an IAM statement: the dossier shows it first, against that release.
    const out2 = tempOutdir();
    const second = await run(['--cdk-out', withGrant, ...storeArgs(), '--out', out2, '--upload'], {
      COMMIT_ID: '2222222bbbbbbbbb',
      PIPELINE_EXECUTION_ID: 'exec-2',
    });
    expect(second.code).toBe(0);
    expect(second.out).toContain(`Since release ${id}: 1 permission added or widened`);
    const dossier = JSON.parse((await body('dossiers/exec-2/dossier.json')).text) as {
      previous: { id: string };
      permissions: { change: string; action: string }[];
    };
    expect(dossier.previous.id).toBe(id);
    expect(dossier.permissions[0]).toMatchObject({
      change: 'added',
      action: expect.stringContaining('s3:GetObject'),
    });

    // 4. A run of the recorded commit's templates: nothing changed.
    const third = await run(['--cdk-out', base, ...storeArgs(), '--out', tempOutdir()], {
      COMMIT_ID: '3333333ccccccccc',
    });
    expect(third.code).toBe(0);
    expect(third.out).toContain(`No changes since release ${id}.`);
  });

  it('fails with what to do when the release store cannot be read', async () => {
    const result = await run(
      [
        '--cdk-out',
        base,
        '--store',
        's3://no-such-bucket',
        '--s3-endpoint',
        s3.endpoint,
        '--out',
        tempOutdir(),
      ],
      {
        COMMIT_ID: '4444444dddddddd',
      },
    );
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/dossier: .*bucket/i);
  });
});

describe('npm run dossier options', () => {
  it('explains each option with --help', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    for (const option of [
      '--cdk-out',
      '--previous',
      '--store',
      '--smoke',
      '--rollout',
      '--out',
      '--upload',
      '--record',
    ])
      expect(help.out).toContain(option);
  });

  it('exits 2 naming an unknown flag', async () => {
    const result = await run(['--colour']);
    expect(result.code).toBe(2);
    expect(result.err).toContain("'--colour'");
  });

  it('compares against a local release folder with --previous', async () => {
    const store = tempOutdir();
    expect(
      (await run(['--cdk-out', base, '--store', store, '--record'], { COMMIT_ID: '5555555eeeeeeee' })).code,
    ).toBe(0);
    const { id } = JSON.parse(fs.readFileSync(path.join(store, 'releases', 'latest.json'), 'utf8')) as {
      id: string;
    };
    const result = await run(
      ['--cdk-out', base, '--previous', path.join(store, 'releases', id), '--out', tempOutdir()],
      {
        COMMIT_ID: '6666666ffffffff',
      },
    );
    expect(result).toMatchObject({ code: 0 });
    expect(result.out).toContain(`No changes since release ${id}.`);
  });
});
