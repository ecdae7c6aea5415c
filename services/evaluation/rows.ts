import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { EVALUATION_FILE } from '../model/package-builder';

/** One labelled row of a classifier's evaluation split. */
export interface LabelledClass {
  readonly features: readonly number[];
  readonly label: string;
}

/** One labelled row of a regressor's evaluation split. */
export interface LabelledValue {
  readonly features: readonly number[];
  readonly value: number;
}

/** A row of `evaluation.jsonl` (docs/CONTRACTS.md, "Model artifacts"). */
export type LabelledRow = LabelledClass | LabelledValue;

/** Thrown when an evaluation split cannot be read or a line breaks the contract; the message names the line. */
export class EvaluationDataError extends Error {
  override readonly name = 'EvaluationDataError';
}

function parseRow(value: unknown, where: string): LabelledRow {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new EvaluationDataError(`${where}: must be a JSON object`);
  }
  const row = value as Record<string, unknown>;
  const features = row.features;
  if (!Array.isArray(features) || features.length === 0 || !features.every((f) => Number.isFinite(f))) {
    throw new EvaluationDataError(`${where}: features must be a non-empty array of finite numbers`);
  }
  const hasLabel = typeof row.label === 'string' && row.label.length > 0;
  const hasValue = typeof row.value === 'number' && Number.isFinite(row.value);
  if (hasLabel === hasValue) {
    throw new EvaluationDataError(
      `${where}: needs exactly one of "label" (a non-empty string) or "value" (a finite number)`,
    );
  }
  return hasLabel
    ? { features: features as number[], label: row.label as string }
    : { features: features as number[], value: row.value as number };
}

/** Parses the text of an `evaluation.jsonl` (blank lines are skipped). */
export function parseEvaluationRows(text: string, file: string): LabelledRow[] {
  return text.split('\n').flatMap((line, i) => {
    if (line.trim() === '') return [];
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new EvaluationDataError(`${file}:${i + 1}: not valid JSON`);
    }
    return [parseRow(value, `${file}:${i + 1}`)];
  });
}

/** Reads `evaluation.jsonl` of a model folder. */
export async function readEvaluationRows(modelDir: string): Promise<LabelledRow[]> {
  const file = path.join(modelDir, EVALUATION_FILE);
  const text = await readFile(file, 'utf8').catch((error: unknown) => {
    throw new EvaluationDataError(
      `Cannot read ${file} (${(error as Error).message}); add the model with npm run model:add, which writes it`,
    );
  });
  return parseEvaluationRows(text, file);
}

const rowKey = (row: LabelledRow): string =>
  JSON.stringify('label' in row ? [row.features, 'label', row.label] : [row.features, 'value', row.value]);

/**
 * The union of several evaluation splits as multisets: a row appears as often as in the split that
 * holds it most often, so two versions sharing one split are not counted twice, and a dataset's own
 * duplicate rows stay. Order: first split's rows first.
 */
export function unionRows(splits: readonly (readonly LabelledRow[])[]): LabelledRow[] {
  const kept = new Map<string, number>();
  const union: LabelledRow[] = [];
  for (const split of splits) {
    const seen = new Map<string, number>();
    for (const row of split) {
      const key = rowKey(row);
      const count = (seen.get(key) ?? 0) + 1;
      seen.set(key, count);
      if (count > (kept.get(key) ?? 0)) {
        kept.set(key, count);
        union.push(row);
      }
    }
  }
  return union;
}
