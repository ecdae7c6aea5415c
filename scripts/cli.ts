/**
 * The flag handling every `npm run` command shares: `--help` (or `-h`) prints the usage and exits 0,
 * an unknown flag, a missing value or a stray argument exits 2 naming it, before any work starts.
 */

/** `boolean` flags take no value; `string` flags take the next argument (or `--flag=value`). */
export type FlagKind = 'boolean' | 'string';

/** What a command accepts. */
export interface CliSpec<F extends Record<string, FlagKind>> {
  /** Printed on `--help` (stdout) and after a usage error (stderr). */
  readonly usage: string;
  /** Flag names without the leading `--`. */
  readonly flags: F;
}

/** Parsed flags: booleans are true when given, strings the value of the last occurrence. */
export type CliValues<F extends Record<string, FlagKind>> = {
  [K in keyof F]?: F[K] extends 'boolean' ? true : string;
};

/** Raised by {@link parseArgs} for a usage error; the message names the flag or argument. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The outcome of parsing without side effects: help asked for, or the values. */
export type ParsedCli<F extends Record<string, FlagKind>> =
  { readonly help: true } | { readonly help: false; readonly values: CliValues<F> };

/** Parses `argv` against `spec`; throws {@link UsageError} naming what is wrong. */
export function parseArgs<F extends Record<string, FlagKind>>(
  argv: readonly string[],
  spec: CliSpec<F>,
): ParsedCli<F> {
  if (argv.includes('--help') || argv.includes('-h')) return { help: true };
  const values: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument "${arg}"`);
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2);
    const kind = Object.hasOwn(spec.flags, name) ? spec.flags[name] : undefined;
    if (kind === undefined) throw new UsageError(`unknown flag --${name}`);
    if (kind === 'boolean') {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      values[name] = true;
      continue;
    }
    const value = inline ?? argv[i + 1];
    if (value === undefined || (inline === undefined && value.startsWith('--'))) {
      throw new UsageError(`--${name} needs a value`);
    }
    if (inline === undefined) i++;
    values[name] = value;
  }
  return { help: false, values: values as CliValues<F> };
}

/**
 * {@link parseArgs} for a command's entry point: prints the usage and exits 0 on `--help`, prints the
 * problem and the usage to stderr and exits 2 on a usage error.
 */
export function parseCli<F extends Record<string, FlagKind>>(
  argv: readonly string[],
  spec: CliSpec<F>,
): CliValues<F> {
  try {
    const parsed = parseArgs(argv, spec);
    if (parsed.help) {
      process.stdout.write(`${spec.usage.trimEnd()}\n`);
      process.exit(0);
    }
    return parsed.values;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\n\n${spec.usage.trimEnd()}\n`);
    process.exit(2);
  }
}
