/** Settings of the drift job, read once at cold start. */
export interface DriftConfig {
  /** Stage name, the `Stage` dimension. */
  readonly stage: string;
  /** CloudWatch namespace of `DataDrift`. */
  readonly namespace: string;
  readonly tableName: string;
  /** `/<project>/<stage>/model`; the active version is `<prefix>/active-version`. */
  readonly modelParameterPrefix: string;
  /** How far back predictions count as recent inputs. */
  readonly windowHours: number;
  /** Fewer samples than this publish nothing: PSI on a handful of rows is noise, not "no drift". */
  readonly minSamples: number;
  /** Most recent predictions read per run. */
  readonly maxSamples: number;
}

/** Reads and validates the drift job's settings; the error names every bad variable. */
export function loadDriftConfig(env: NodeJS.ProcessEnv): DriftConfig {
  const problems: string[] = [];
  const required = (name: string): string => {
    const value = env[name]?.trim();
    if (!value) problems.push(`${name} is required`);
    return value ?? '';
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name]?.trim();
    if (!raw) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name}="${raw}" must be an integer from ${min} to ${max}`);
    }
    return value;
  };
  const config: DriftConfig = {
    stage: required('STAGE_NAME'),
    namespace: required('METRIC_NAMESPACE'),
    tableName: required('TABLE_NAME'),
    modelParameterPrefix: required('MODEL_PARAMETER_PREFIX').replace(/\/+$/, ''),
    windowHours: integer('DRIFT_WINDOW_HOURS', 24, 1, 24 * 30),
    minSamples: integer('DRIFT_MIN_SAMPLES', 100, 1, 1_000_000),
    maxSamples: integer('DRIFT_MAX_SAMPLES', 5000, 1, 1_000_000),
  };
  if (config.maxSamples < config.minSamples)
    problems.push('DRIFT_MAX_SAMPLES must be at least DRIFT_MIN_SAMPLES');
  if (problems.length > 0) throw new Error(`Invalid drift job configuration: ${problems.join('; ')}`);
  return config;
}
