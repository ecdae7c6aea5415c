import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { STAGE_KEYS, type StageKey } from './model-versions';

/** Where a registry command prints. */
export interface CommandOutput {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

/** The flags every registry command takes besides its own. */
const COMMON_FLAGS = {
  stage: { type: 'string' },
  'role-arn': { type: 'string' },
  file: { type: 'string' },
  help: { type: 'boolean' },
} as const satisfies ParseArgsOptionsConfig;

type Values<T extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<{ options: T & typeof COMMON_FLAGS; strict: true; allowPositionals: false }>
>['values'];

/**
 * Parses a registry command's flags (its own plus --stage, --role-arn, --file, --help): `--help`
 * prints `usage` and ends with 0, an unknown flag or a missing/unknown stage ends with 2 naming it.
 * Answers the exit code to end with, or the values and the stage.
 */
export function parseStageCommand<T extends ParseArgsOptionsConfig>(
  command: string,
  argv: readonly string[],
  flags: T,
  usage: string,
  io: CommandOutput,
): number | { readonly stage: StageKey; readonly values: Values<T> } {
  let values: Values<T>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: { ...flags, ...COMMON_FLAGS },
    }));
  } catch (error) {
    io.err(`${command}: ${(error as Error).message} (see --help)`);
    return 2;
  }
  const common = values as { readonly help?: boolean; readonly stage?: string };
  if (common.help) {
    io.out(usage);
    return 0;
  }
  const stage = common.stage as StageKey | undefined;
  if (!stage || !STAGE_KEYS.includes(stage)) {
    io.err(`${command}: --stage must be one of ${STAGE_KEYS.join(', ')} (see --help)`);
    return 2;
  }
  return { stage, values };
}
