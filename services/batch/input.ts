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

const MAX_FEATURES = 1024;

/** The same requestId rule as `POST /predict` (services/inference/validation.ts). */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Why a feature value cannot be scored and stored, or undefined when it can. The bounds are what the
 * model and the table accept: the model's float32 range including underflow, and the numbers the
 * DynamoDB document client marshals without losing precision (|x| ≤ 2^53 − 1, which also keeps every feature
 * below float32's maximum of 3.4e38; DynamoDB's own limits, 38 digits and 1e-130..1e126, are wider).
 */
export function featureProblem(value: unknown): string | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value)) return 'is not a finite number';
  const magnitude = Math.abs(value);
  if (magnitude > Number.MAX_SAFE_INTEGER) {
    return `is beyond ±${Number.MAX_SAFE_INTEGER} (2^53 − 1), the largest number stored exactly`;
  }
  if (magnitude !== 0 && Math.fround(magnitude) === 0) {
    return 'underflows float32 (a non-zero magnitude below about 7e-46 becomes 0); send 0';
  }
  return undefined;
}

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

/** One input line, numbered from 1 (blank lines count). */
export interface NumberedLine {
  readonly lineNumber: number;
  readonly text: string;
}

/** Splits a byte stream into lines as they arrive, without holding more than one chunk and one line. */
export async function* splitLines(chunks: AsyncIterable<Uint8Array | string>): AsyncGenerator<NumberedLine> {
  const decoder = new TextDecoder('utf-8');
  let carry = '';
  let lineNumber = 0;
  for await (const chunk of chunks) {
    const text = carry + (typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
    let start = 0;
    for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
      yield { lineNumber: ++lineNumber, text: text.slice(start, end) };
      start = end + 1;
    }
    carry = text.slice(start);
  }
  carry += decoder.decode();
  if (carry !== '') yield { lineNumber: lineNumber + 1, text: carry };
}

/** Parses one non-blank line into a row, or says why it cannot be scored. */
export function parseLine(line: string, lineNumber: number): InputRow | MalformedLine {
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
  for (let i = 0; i < features.length; i++) {
    const problem = featureProblem(features[i]);
    if (problem !== undefined) return { lineNumber, reason: `features[${i}] ${problem}` };
  }
  if (requestId === undefined) return { lineNumber, features: features as number[] };
  if (typeof requestId !== 'string' || !REQUEST_ID_PATTERN.test(requestId)) {
    return {
      lineNumber,
      reason: '"requestId" must be 1-128 characters of A-Z, a-z, 0-9, ".", "_", ":" or "-"',
    };
  }
  return { lineNumber, features: features as number[], requestId };
}
