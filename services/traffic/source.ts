/**
 * The traffic source's sending loop: `count` requests spread evenly over a bounded window, cycling
 * through the request set, with a cap on requests in flight. It stops at the end of its window (its
 * bound), when its signal aborts (told to stop), and never sends more than `count`.
 */

/** What one request got back: the HTTP status (0 for a network failure or timeout) and the body. */
export interface SendOutcome {
  readonly status: number;
  /** The parsed answer, or the error text when nothing answered; kept for the first failure per status. */
  readonly body?: unknown;
}

/** Sends one request. */
export type SendFeatures = (features: readonly number[]) => Promise<SendOutcome>;

/** The failed answers of one HTTP status: how many, and the first one's body. */
export interface FailedAnswers {
  readonly count: number;
  readonly example: unknown;
}

/** Labelled answers per variant and how many of them matched the row's label. */
export type LabelledTally = Record<string, { labelled: number; correct: number }>;

/** The answering variant and predicted label of a `POST /predict` answer, when it has them. */
function variantAndLabel(body: unknown): { variant?: string; label?: string } {
  if (typeof body !== 'object' || body === null) return {};
  const { variant, result } = body as { variant?: unknown; result?: { label?: unknown } };
  return {
    ...(typeof variant === 'string' ? { variant } : {}),
    ...(typeof result?.label === 'string' ? { label: result.label } : {}),
  };
}

/** One bounded run of the traffic source. */
export interface TrafficRun {
  readonly requests: readonly { readonly features: readonly number[]; readonly label?: string }[];
  /** Requests to send in the window. */
  readonly count: number;
  /** Length of the window; nothing is sent after it. */
  readonly windowMs: number;
  readonly send: SendFeatures;
  /** Told to stop: no request is started after it aborts. */
  readonly signal?: AbortSignal;
  /** Requests in flight at most; a slow API slows the source instead of piling up. @default 16 */
  readonly maxInFlight?: number;
  /** Index into the request set of the first request (so consecutive windows walk the whole set). @default 0 */
  readonly offset?: number;
  /** @default performance.now */
  readonly now?: () => number;
}

/** What one run did. */
export interface TrafficReport {
  readonly sent: number;
  /** Answered 2xx. */
  readonly succeeded: number;
  readonly failed: number;
  /** Failed answers by HTTP status (`"0"`: no answer), so a failure names its cause. */
  readonly failures: Readonly<Record<string, FailedAnswers>>;
  /** `done`: all `count` sent; `bound`: the window ended first; `told`: the signal aborted. */
  readonly stoppedBy: 'done' | 'bound' | 'told';
  readonly elapsedMs: number;
  /** Per variant: answers to labelled rows, and those equal to the row's label. */
  readonly labelled: LabelledTally;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Runs the source for one window; resolves once every started request has answered. */
export async function sendPaced(run: TrafficRun): Promise<TrafficReport> {
  const now = run.now ?? (() => performance.now());
  const started = now();
  const end = started + Math.max(0, run.windowMs);
  const count = Math.max(0, Math.floor(run.count));
  const interval = count > 0 ? run.windowMs / count : 0;
  const maxInFlight = run.maxInFlight ?? 16;
  const inFlight = new Set<Promise<void>>();
  let sent = 0;
  let succeeded = 0;
  let failed = 0;
  const failures: Record<string, FailedAnswers> = {};
  const fail = (status: number, body: unknown) => {
    failed += 1;
    const seen = failures[status];
    failures[status] = { count: (seen?.count ?? 0) + 1, example: seen ? seen.example : body };
  };
  let stoppedBy: TrafficReport['stoppedBy'] = 'done';
  const labelled: LabelledTally = {};
  for (let i = 0; i < count; i += 1) {
    await sleep(started + i * interval - now(), run.signal);
    while (inFlight.size >= maxInFlight) await Promise.race(inFlight);
    if (run.signal?.aborted) {
      stoppedBy = 'told';
      break;
    }
    if (now() >= end) {
      stoppedBy = 'bound';
      break;
    }
    const row = run.requests[((run.offset ?? 0) + i) % run.requests.length]!;
    sent += 1;
    const request: Promise<void> = run
      .send(row.features)
      .then(
        ({ status, body }) => {
          if (status < 200 || status >= 300) return fail(status, body);
          succeeded += 1;
          if (row.label === undefined) return;
          const { variant, label } = variantAndLabel(body);
          if (variant === undefined || label === undefined) return;
          const tally = (labelled[variant] ??= { labelled: 0, correct: 0 });
          tally.labelled += 1;
          if (label === row.label) tally.correct += 1;
        },
        (error: unknown) => fail(0, String(error)),
      )
      .finally(() => inFlight.delete(request));
    inFlight.add(request);
  }
  await Promise.all(inFlight);
  return { sent, succeeded, failed, failures, stoppedBy, elapsedMs: now() - started, labelled };
}
