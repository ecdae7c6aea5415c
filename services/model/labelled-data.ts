/** The rows `model:add` evaluates a model on: features in the model's input order and the true answer. */
export interface LabelledData {
  readonly featureNames: readonly string[];
  /** Class label (as written in the data) or numeric target, one per row. */
  readonly rows: readonly LabelledRow[];
}

/** One labelled row. */
export interface LabelledRow {
  readonly features: readonly number[];
  readonly target: string | number;
}

/** Thrown when the data file cannot be read as labelled rows; the message names the line and the fix. */
export class LabelledDataError extends Error {
  override readonly name = 'LabelledDataError';
}

/** Options of {@link parseLabelledData}. */
export interface ParseOptions {
  /** CSV column holding the label or target. @default the last column */
  readonly labelColumn?: string;
  /** Name of the file, for messages. */
  readonly file?: string;
}

function splitCsvLine(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const char = line[i];
    if (quoted) {
      if (char === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (char === '"') quoted = false;
      else cell += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') {
      cells.push(cell.trim());
      cell = '';
    } else cell += char;
  }
  cells.push(cell.trim());
  return cells;
}

/** A number when the text is one (`1`, `-0.5`, `1e3`), else the text. */
function targetOf(text: string): string | number {
  const number = Number(text);
  return text !== '' && Number.isFinite(number) ? number : text;
}

function parseCsv(lines: readonly string[], options: ParseOptions, where: string): LabelledData {
  const header = splitCsvLine(lines[0]);
  if (new Set(header).size !== header.length || header.some((name) => name === '')) {
    throw new LabelledDataError(`${where}: line 1 (the header) must name every column once`);
  }
  const labelIndex =
    options.labelColumn === undefined ? header.length - 1 : header.indexOf(options.labelColumn);
  if (labelIndex < 0) {
    throw new LabelledDataError(
      `${where}: no column "${options.labelColumn}" in the header (${header.join(', ')}); pass --label-column with one of them`,
    );
  }
  if (header.length < 2) {
    throw new LabelledDataError(`${where}: the header needs feature columns and a label column`);
  }
  const featureNames = header.filter((_, i) => i !== labelIndex);
  const rows = lines.slice(1).map((line, r) => {
    const cells = splitCsvLine(line);
    if (cells.length !== header.length) {
      throw new LabelledDataError(
        `${where}: line ${r + 2} has ${cells.length} values, the header ${header.length} columns`,
      );
    }
    const features = cells
      .filter((_, i) => i !== labelIndex)
      .map((cell, j) => {
        const value = Number(cell);
        if (cell === '' || !Number.isFinite(value)) {
          throw new LabelledDataError(
            `${where}: line ${r + 2}, column "${featureNames[j]}" is "${cell}", not a number; ` +
              'encode categorical features as numbers the way the model was trained',
          );
        }
        return value;
      });
    const target = cells[labelIndex];
    if (target === '') throw new LabelledDataError(`${where}: line ${r + 2} has an empty label`);
    return { features, target: targetOf(target) };
  });
  return { featureNames, rows };
}

function parseJsonLines(lines: readonly string[], where: string): LabelledData {
  const rows = lines.map((line, r) => {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new LabelledDataError(`${where}: line ${r + 1} is not JSON`);
    }
    const row = value as { features?: unknown; label?: unknown; value?: unknown } | null;
    const features = row?.features;
    const target = row?.label ?? row?.value;
    if (
      !Array.isArray(features) ||
      !features.every((x: unknown) => typeof x === 'number' && Number.isFinite(x)) ||
      !(typeof target === 'string' || (typeof target === 'number' && Number.isFinite(target)))
    ) {
      throw new LabelledDataError(
        `${where}: line ${r + 1} must be {"features": [numbers], "label": "..."} or {"features": [...], "value": number}`,
      );
    }
    return { features: features as number[], target };
  });
  const width = rows[0].features.length;
  const bad = rows.findIndex((row) => row.features.length !== width);
  if (bad >= 0) {
    throw new LabelledDataError(
      `${where}: line ${bad + 1} has ${rows[bad].features.length} features, line 1 has ${width}`,
    );
  }
  // JSON lines carry no names; the metadata names the columns by position.
  return { featureNames: Array.from({ length: width }, (_, j) => `feature_${j}`), rows };
}

/**
 * Parses labelled rows: a CSV with a header (feature columns in the model's input order, and the label or
 * target column, the last one unless `labelColumn` names another) or JSON lines
 * `{"features": [...], "label": "..."}` / `{"features": [...], "value": 1.5}`.
 * @throws LabelledDataError naming the line.
 */
export function parseLabelledData(text: string, options: ParseOptions = {}): LabelledData {
  const where = options.file ?? 'data';
  const lines = text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '');
  if (lines.length === 0) throw new LabelledDataError(`${where} is empty`);
  const jsonLines = lines[0].trimStart().startsWith('{');
  const data = jsonLines ? parseJsonLines(lines, where) : parseCsv(lines, options, where);
  if (jsonLines && options.labelColumn !== undefined) {
    throw new LabelledDataError(
      `${where}: --label-column applies to CSV; JSON lines name "label" or "value"`,
    );
  }
  if (data.rows.length < 2) throw new LabelledDataError(`${where}: needs at least 2 labelled rows`);
  return data;
}
