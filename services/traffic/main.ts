import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { modelArtifactDir } from '../model/artifacts';
import { readModelVersions } from '../registry/model-versions';
import { createApiClient, type ApiClientOptions } from '../smoke/http-client';
import { regionFromApiUrl } from '../smoke/options';
import { MAX_TRAFFIC_RATE } from './config';
import { loadRequestSet, REQUEST_SET_FILE, type RequestSet } from './request-set';
import { sendPaced, type TrafficReport } from './source';

/** Longest run the CLI accepts: it is a rollout's traffic source, not a load test. */
export const MAX_DURATION_SECONDS = 3_600;

// The candidate dev deploys (config/model-versions.json): the version a rollout's traffic exercises.
const defaultRequests = path.join(
  modelArtifactDir(readModelVersions().dev.candidateVersion),
  REQUEST_SET_FILE,
);

/** `--help` text. */
export const usage = `Usage: npm run traffic -- --api-url URL [options]

The rollout traffic source by hand: replays a model version's representative request set
(its held-out split) as POST /predict at a fixed rate for a bounded time, SigV4-signed
like users' requests. The stage's own source is a Lambda function the rollout drives;
this is for npm start and for trying a stage.

Options:
  --api-url URL            API base URL, stage included (required)
  --rate N                 requests per second, at most ${MAX_TRAFFIC_RATE} (default 5)
  --duration-seconds S     stop after S seconds, at most ${MAX_DURATION_SECONDS} (default 60)
  --requests FILE          request set (default ${path.relative(process.cwd(), defaultRequests)})
  --region R               signing region (default: from the URL, else AWS_REGION)
  --no-sign                do not sign (a local API without callers)
  --help                   show this text

Stops at its bound or on Ctrl-C (SIGINT/SIGTERM), whichever comes first.
Exits 0 when it stopped cleanly, 1 when no request succeeded, 2 on bad arguments.`;

/** Settings of one CLI run. */
export interface TrafficOptions {
  readonly apiUrl: string;
  readonly rate: number;
  readonly durationSeconds: number;
  readonly requestsFile: string;
  readonly region?: string;
  readonly sign: boolean;
}

/** Parses the arguments; a string is the usage error. */
export function parseTrafficArgs(argv: readonly string[]): TrafficOptions | 'help' | string {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        'api-url': { type: 'string' },
        rate: { type: 'string' },
        'duration-seconds': { type: 'string' },
        requests: { type: 'string' },
        region: { type: 'string' },
        'no-sign': { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }));
  } catch (error) {
    return (error as Error).message;
  }
  if (values.help) return 'help';
  const apiUrl = values['api-url'];
  if (!apiUrl || !/^https?:\/\//.test(apiUrl)) return '--api-url must be an http(s) URL';
  const rate = Number(values.rate ?? 5);
  if (!(rate > 0 && rate <= MAX_TRAFFIC_RATE))
    return `--rate must be more than 0 and at most ${MAX_TRAFFIC_RATE}`;
  const durationSeconds = Number(values['duration-seconds'] ?? 60);
  if (!(durationSeconds > 0 && durationSeconds <= MAX_DURATION_SECONDS))
    return `--duration-seconds must be more than 0 and at most ${MAX_DURATION_SECONDS}`;
  return {
    apiUrl,
    rate,
    durationSeconds,
    requestsFile: values.requests ?? defaultRequests,
    region: values.region,
    sign: !values['no-sign'],
  };
}

/** Where the CLI writes, its environment and what tells it to stop; tests pass their own. */
export interface TrafficIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly signal?: AbortSignal;
  /** @default the default credential chain */
  readonly credentials?: ApiClientOptions['credentials'];
}

/** The CLI; resolves to the exit code. */
export async function main(argv: readonly string[], io: TrafficIo): Promise<number> {
  const parsed = parseTrafficArgs(argv);
  if (parsed === 'help') {
    io.out(usage);
    return 0;
  }
  if (typeof parsed === 'string') {
    io.err(`${parsed}\n\n${usage}`);
    return 2;
  }
  let set: RequestSet;
  try {
    set = loadRequestSet(parsed.requestsFile);
  } catch (error) {
    io.err(`Cannot read the request set: ${(error as Error).message}`);
    return 2;
  }
  const region =
    parsed.region ?? regionFromApiUrl(parsed.apiUrl) ?? io.env.AWS_REGION ?? io.env.AWS_DEFAULT_REGION;
  if (parsed.sign && !region) {
    io.err('Cannot tell the signing region: pass --region or set AWS_REGION (or --no-sign).');
    return 2;
  }
  const client = createApiClient({
    apiUrl: parsed.apiUrl,
    signingRegion: parsed.sign ? region : undefined,
    timeoutMs: 10_000,
    credentials: io.credentials,
  });
  const count = Math.round(parsed.rate * parsed.durationSeconds);
  io.out(
    `Traffic source: ${count} requests at ${parsed.rate}/s for at most ${parsed.durationSeconds} s to ${parsed.apiUrl} ` +
      `(${set.requests.length} requests of ${set.version}: ${set.source}; ${parsed.sign ? `SigV4 ${region}` : 'unsigned'})`,
  );
  let progress = 0;
  const report: TrafficReport = await sendPaced({
    requests: set.requests,
    count,
    windowMs: parsed.durationSeconds * 1000,
    signal: io.signal,
    send: async (features) => {
      const exchange = await client({ method: 'POST', path: '/predict', body: JSON.stringify({ features }) });
      progress += 1;
      if (progress % Math.max(1, Math.round(parsed.rate * 10)) === 0) io.out(`  ${progress} sent`);
      return exchange.status;
    },
  });
  const line =
    `Traffic source stopped (${report.stoppedBy}): ${report.sent} sent, ${report.succeeded} succeeded, ` +
    `${report.failed} failed in ${(report.elapsedMs / 1000).toFixed(1)} s`;
  if (report.sent > 0 && report.succeeded === 0) {
    io.err(`${line}; no request succeeded: check the URL, --region and your credentials`);
    return 1;
  }
  io.out(line);
  return 0;
}

if (require.main === module) {
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  process.once('SIGTERM', () => controller.abort());
  main(process.argv.slice(2), {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    env: process.env,
    signal: controller.signal,
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`Traffic source crashed: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
