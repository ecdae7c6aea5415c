import type { RequestSet } from './request-set';
import type { TrafficReport } from './source';

/** Where the requests went: the API and the region they were signed for (none: unsigned). */
export interface HintTarget {
  readonly apiUrl: string;
  readonly signingRegion?: string;
}

/**
 * Why no request succeeded, from what the API answered most often: no answer (URL, network), 403
 * (signature, credentials, region), another 4xx (the API refused the requests themselves: its error
 * message, e.g. a feature count the deployed models do not take), or 5xx (the service failed).
 */
export function failureHint(
  failures: TrafficReport['failures'],
  set: Pick<RequestSet, 'version' | 'requests'>,
  target: HintTarget,
): string {
  const [statusText, { count, example }] = Object.entries(failures).sort(
    ([, a], [, b]) => b.count - a.count,
  )[0] ?? ['0', { count: 0, example: undefined }];
  const status = Number(statusText);
  const answered = `${count} answered ${status === 0 ? 'nothing' : `HTTP ${status}`}`;
  const error = errorText(example);
  if (status === 0) {
    return `${answered} (${error || 'no answer'}): check the API URL ${target.apiUrl} and that the API is up`;
  }
  if (status === 403 || status === 401) {
    return (
      `${answered}${error ? ` (${error})` : ''}: the API refused the caller; check your credentials` +
      (target.signingRegion ? ` and the signing region ${target.signingRegion}` : ', or sign the requests')
    );
  }
  if (status >= 400 && status < 500) {
    const width = set.requests[0]?.features.length;
    return (
      `${answered}${error ? ` (${error})` : ''}: the API refused the requests themselves; the request set ` +
      `(${set.version}, ${width} features per row) may not fit the models the stage deploys: replay the ` +
      "request set of a deployed version (the CLI's --requests)"
    );
  }
  return `${answered}${error ? ` (${error})` : ''}: the service failed; see the predict function's logs`;
}

function errorText(body: unknown): string {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (typeof error?.code === 'string') return `${error.code}: ${String(error.message)}`;
  return typeof body === 'string' ? body.slice(0, 200) : '';
}
