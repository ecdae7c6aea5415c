import { readFileSync } from 'node:fs';

/** File name of a version's request set, next to its model under `models/<version>/`. */
export const REQUEST_SET_FILE = 'requests.json';

/**
 * The representative requests the rollout traffic source replays: the held-out split the model
 * version was evaluated on (`npm run models` writes it; docs/CONTRACTS.md).
 */
export interface RequestSet {
  readonly version: string;
  /** Where the rows come from, for people. */
  readonly source: string;
  /** Each row's features and, when the set is labelled (docs/MODEL-CONTRACT), its true label. */
  readonly requests: readonly { readonly features: readonly number[]; readonly label?: string }[];
}

/** Parses a request set, refusing one the traffic source could not replay. */
export function parseRequestSet(value: unknown, where = 'request set'): RequestSet {
  const set = value as Partial<RequestSet> | null;
  const requests = set?.requests;
  if (
    typeof set?.version !== 'string' ||
    !Array.isArray(requests) ||
    requests.length === 0 ||
    !requests.every(
      (r) =>
        Array.isArray(r?.features) &&
        r.features.length > 0 &&
        r.features.every((x: unknown) => typeof x === 'number' && Number.isFinite(x)) &&
        (r.label === undefined || typeof r.label === 'string'),
    )
  ) {
    throw new Error(
      `${where}: expected {version, source, requests: [{features: number[], label?: string}, ...]} with at least one request`,
    );
  }
  // Regression rows ({features, value}) replay without a label: only classification answers are scored.
  const rows = requests.map((r) =>
    r.label === undefined ? { features: r.features } : { features: r.features, label: r.label },
  );
  return { version: set.version, source: String(set.source ?? ''), requests: rows };
}

/** Reads and parses a request set file. */
export function loadRequestSet(file: string): RequestSet {
  return parseRequestSet(JSON.parse(readFileSync(file, 'utf8')), file);
}
