import { UsageError } from '../../scripts/cli';
import { MODEL_VERSIONS_FILE, readModelVersions } from '../registry/model-versions';

/** `npm start`'s choice of versions: a stage of the config, or two named versions. */
export interface ServedVersionFlags {
  readonly dev?: true;
  readonly prod?: true;
  readonly baseline?: string;
  readonly candidate?: string;
}

/**
 * The baseline and candidate `npm start` serves: `--baseline` with `--candidate`, else what
 * `config/model-versions.json` says `--prod` (or, by default, dev) deploys.
 * @throws UsageError for flags that contradict each other.
 */
export function servedVersions(flags: ServedVersionFlags, file = MODEL_VERSIONS_FILE): [string, string] {
  const { dev, prod, baseline, candidate } = flags;
  if ((baseline === undefined) !== (candidate === undefined)) {
    throw new UsageError('--baseline and --candidate go together');
  }
  if ([dev, prod, baseline].filter((v) => v !== undefined).length > 1) {
    throw new UsageError('choose one of --dev, --prod, or --baseline with --candidate');
  }
  if (baseline !== undefined && candidate !== undefined) return [baseline, candidate];
  const stage = readModelVersions(file)[prod ? 'prod' : 'dev'];
  return [stage.baselineVersion, stage.candidateVersion];
}
