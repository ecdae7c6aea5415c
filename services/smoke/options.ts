import { parseArgs } from 'node:util';
import type { DeployedVariants } from './checks';

/** Settings of one smoke run. */
export interface SmokeOptions {
  /** Base URL of the API, stage path included (`https://abc.execute-api.eu-west-1.amazonaws.com/prod`). */
  readonly apiUrl: string;
  /** SigV4-sign requests for `execute-api`. */
  readonly sign: boolean;
  /** Signing region; from the URL or `AWS_REGION` when absent. */
  readonly region?: string;
  readonly latencyBudgetMs: number;
  readonly junitFile: string;
  /** Folder with one `<version>/metadata.json` per model version; the repository's `models/` when absent. */
  readonly modelsDir?: string;
  /** Variant → model version; dev's baseline and candidate from config/model-versions.json when absent. */
  readonly variants?: DeployedVariants;
  readonly requestTimeoutMs: number;
  /** SageMaker endpoint whose variants are invoked directly (`EndpointName` output). @default - none */
  readonly endpointName?: string;
  /** Base URL of a SageMaker runtime stand-in (`npm start` prints it). @default - AWS */
  readonly runtimeUrl?: string;
}

/** What the command line asked for. */
export type ParsedCommand =
  | { readonly kind: 'run'; readonly options: SmokeOptions }
  | { readonly kind: 'help' }
  | { readonly kind: 'error'; readonly message: string };

/** Default p95 budget: generous for a cold Lambda in the first seconds after a deployment. */
export const DEFAULT_LATENCY_BUDGET_MS = 3_000;
/** Default report path, where the pipeline's CodeBuild report group picks it up. */
export const DEFAULT_JUNIT_FILE = 'reports/smoke-junit.xml';

/** `--help` text. */
export const usage = `Usage: npm run smoke -- --api-url URL [options]

Post-deploy smoke test. With --endpoint-name, first invokes each deployed variant
directly (SageMaker InvokeEndpoint with TargetVariant, so a candidate at weight 0 is
proven before any user request reaches it) with its version's golden requests. Then
POST /predict and GET /predictions/{id}: sends every model version's golden requests
and checks the answer contract, labels, variants, a malformed request, the stored
record's TTL and the latency p95.

Options:
  --api-url URL              API base URL, stage included (required)
  --no-sign                  do not SigV4-sign requests (local target)
  --region R                 signing region (default: from the URL, else AWS_REGION)
  --latency-budget-ms N      p95 budget in ms (default ${DEFAULT_LATENCY_BUDGET_MS})
  --junit FILE               JUnit XML report (default ${DEFAULT_JUNIT_FILE})
  --models-dir DIR           folder of <version>/metadata.json (default: the repository's models/)
  --variants A=v1,B=v2       deployed variants and their model versions
                             (default: what config/model-versions.json says dev deploys)
  --endpoint-name NAME       SageMaker endpoint (EndpointName output): invoke each variant directly
  --runtime-url URL          SageMaker runtime stand-in to use instead of AWS (npm start prints it)
  --timeout-ms N             per-request timeout (default 10000)
  --help                     show this text

Exits 0 when every check passes, 1 when a check fails, 2 on bad arguments.`;

/** Parses the smoke CLI's arguments; never throws. */
export function parseCommand(argv: readonly string[]): ParsedCommand {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        'api-url': { type: 'string' },
        'no-sign': { type: 'boolean' },
        region: { type: 'string' },
        'latency-budget-ms': { type: 'string' },
        junit: { type: 'string' },
        'models-dir': { type: 'string' },
        variants: { type: 'string' },
        'timeout-ms': { type: 'string' },
        'endpoint-name': { type: 'string' },
        'runtime-url': { type: 'string' },
        help: { type: 'boolean' },
      },
    }));
  } catch (error) {
    return { kind: 'error', message: (error as Error).message };
  }
  if (values.help) return { kind: 'help' };
  const apiUrl = values['api-url'];
  if (!apiUrl) return { kind: 'error', message: '--api-url is required' };
  if (!/^https?:\/\//.test(apiUrl))
    return { kind: 'error', message: `--api-url must be an http(s) URL: ${apiUrl}` };
  const budget = positiveInt(values['latency-budget-ms'], DEFAULT_LATENCY_BUDGET_MS);
  if (budget === undefined)
    return { kind: 'error', message: '--latency-budget-ms must be a positive integer' };
  const timeout = positiveInt(values['timeout-ms'], 10_000);
  if (timeout === undefined) return { kind: 'error', message: '--timeout-ms must be a positive integer' };
  let variants: DeployedVariants | undefined;
  if (values.variants !== undefined) {
    variants = parseVariants(values.variants);
    if (!variants)
      return { kind: 'error', message: '--variants must look like VariantA=v1.0.0,VariantB=v1.1.0' };
  }
  const endpointName = values['endpoint-name'];
  if (endpointName !== undefined && !/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/.test(endpointName))
    return { kind: 'error', message: `--endpoint-name is not a SageMaker endpoint name: ${endpointName}` };
  const runtimeUrl = values['runtime-url'];
  if (runtimeUrl !== undefined && !/^https?:\/\//.test(runtimeUrl))
    return { kind: 'error', message: `--runtime-url must be an http(s) URL: ${runtimeUrl}` };
  if (runtimeUrl !== undefined && endpointName === undefined)
    return { kind: 'error', message: '--runtime-url needs --endpoint-name' };
  return {
    kind: 'run',
    options: {
      apiUrl,
      sign: !values['no-sign'],
      region: values.region,
      latencyBudgetMs: budget,
      junitFile: values.junit ?? DEFAULT_JUNIT_FILE,
      modelsDir: values['models-dir'],
      variants,
      requestTimeoutMs: timeout,
      endpointName,
      runtimeUrl,
    },
  };
}

/** `VariantA=v1.0.0,VariantB=v1.1.0` → `{VariantA: 'v1.0.0', VariantB: 'v1.1.0'}`; undefined when malformed. */
export function parseVariants(text: string): DeployedVariants | undefined {
  const pairs = text.split(',').map((pair) => pair.trim().split('='));
  if (pairs.some((pair) => pair.length !== 2 || !pair[0] || !pair[1])) return undefined;
  return Object.fromEntries(pairs.map(([name, version]) => [name!.trim(), version!.trim()]));
}

/** The region in an `execute-api` host name (`abc.execute-api.eu-west-1.amazonaws.com`). */
export function regionFromApiUrl(apiUrl: string): string | undefined {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com/.exec(new URL(apiUrl).hostname)?.[1];
}

function positiveInt(raw: string | undefined, fallback: number): number | undefined {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  return Number.isInteger(value) && value > 0 ? value : undefined;
}
