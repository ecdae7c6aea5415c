/** One scoreable line of an input object. */
export interface InputRow {
  /** 1-based line number in the input object. */
  readonly lineNumber: number;
  readonly features: number[];
  readonly requestId?: string;
}

/** A line that was skipped, with why. */
export interface MalformedLine {
  readonly lineNumber: number;
  readonly reason: string;
}

/** Result of {@link parseJsonLines}: blank lines are neither rows nor malformed. */
export interface ParsedInput {
  readonly rows: InputRow[];
  readonly malformed: MalformedLine[];
  /** Non-blank lines seen. */
  readonly lineCount: number;
}

const MAX_REQUEST_ID_LENGTH = 128;
const MAX_FEATURES = 1024;

/**
 * Parses a JSON-lines input object whose lines are `{"features": number[], "requestId"?: string}`.
 * Bad lines are reported, never thrown: one broken line must not cost the rest of the file.
 */
export function parseJsonLines(text: string): ParsedInput {
  const rows: InputRow[] = [];
  const malformed: MalformedLine[] = [];
  let lineCount = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    lineCount++;
    const parsed = parseLine(line, i + 1);
    if ('reason' in parsed) malformed.push(parsed);
    else rows.push(parsed);
  }
  return { rows, malformed, lineCount };
}

function parseLine(line: string, lineNumber: number): InputRow | MalformedLine {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { lineNumber, reason: 'not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { lineNumber, reason: 'not a JSON object' };
  }
  const { features, requestId } = value as { features?: unknown; requestId?: unknown };
  if (!Array.isArray(features) || features.length === 0 || features.length > MAX_FEATURES) {
    return { lineNumber, reason: `"features" must be a non-empty array of at most ${MAX_FEATURES} numbers` };
  }
  if (!features.every((f): f is number => typeof f === 'number' && Number.isFinite(f))) {
    return { lineNumber, reason: '"features" must contain only finite numbers' };
  }
  if (requestId === undefined) return { lineNumber, features };
  if (typeof requestId !== 'string' || requestId.length === 0 || requestId.length > MAX_REQUEST_ID_LENGTH) {
    return { lineNumber, reason: `"requestId" must be a string of 1 to ${MAX_REQUEST_ID_LENGTH} characters` };
  }
  return { lineNumber, features, requestId };
}
