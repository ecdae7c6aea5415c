import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs, UsageError } from '../../scripts/cli';
import packageJson from '../../package.json';

const spec = { usage: 'Usage: x', flags: { json: 'boolean', out: 'string' } } as const;

describe('parseArgs', () => {
  it('reads boolean and string flags, in both --flag value and --flag=value form', () => {
    expect(parseArgs(['--json', '--out', 'dir'], spec)).toEqual({
      help: false,
      values: { json: true, out: 'dir' },
    });
    expect(parseArgs(['--out=a=b'], spec)).toEqual({ help: false, values: { out: 'a=b' } });
  });

  it('asks for help on --help or -h, whatever else is there', () => {
    expect(parseArgs(['--nope', '-h'], spec)).toEqual({ help: true });
  });

  it.each([
    [['--verbose'], 'unknown flag --verbose'],
    [['--out'], '--out needs a value'],
    [['--out', '--json'], '--out needs a value'],
    [['--json=yes'], '--json takes no value'],
    [['stray'], 'unexpected argument "stray"'],
    [['--constructor'], 'unknown flag --constructor'],
  ])('rejects %j naming the problem', (argv, message) => {
    expect(() => parseArgs(argv, spec)).toThrow(new UsageError(message));
  });
});

/** The `tsx FILE` commands of package.json whose flags go through scripts/cli.ts. */
const commands = Object.entries(packageJson.scripts as Record<string, string>)
  // bench:canary and bench:batch parse their own flags (tested with them).
  .filter(([name, line]) => line.startsWith('tsx ') && !['bench:canary', 'bench:batch'].includes(name))
  .map(([name, line]) => [name, line.split(' ')[1]] as const);

const root = path.join(__dirname, '..', '..');

function runCommand(
  file: string,
  args: string[],
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], { cwd: root });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.once('close', (code) => resolve({ code, out, err }));
  });
}

describe('every npm command', () => {
  it('is covered here', () => {
    expect(commands.map(([name]) => name)).toEqual(
      expect.arrayContaining([
        'acks',
        'compliance',
        'smoke',
        'models',
        'bench:predict',
        'bench:model',
        'start',
      ]),
    );
  });

  it.each(commands)(
    '%s: --help prints usage and exits 0, an unknown flag exits 2 naming it',
    async (_, file) => {
      const recorded = path.join(root, 'test', 'iam', 'recorded-calls.json');
      const before = statSync(recorded).mtimeMs;
      const [help, unknown] = await Promise.all([
        runCommand(file, ['--help']),
        runCommand(file, ['--no-such-flag']),
      ]);
      expect(help).toMatchObject({ code: 0, out: expect.stringMatching(/^Usage: /) });
      expect(unknown.code).toBe(2);
      expect(unknown.err).toMatch(/no-such-flag/);
      // record-calls used to rewrite the recorded calls on --help.
      expect(statSync(recorded).mtimeMs).toBe(before);
    },
  );
});
