import * as path from 'node:path';
import type { QualityMargin } from '../evaluation/evaluate';
import { readEvaluationRows, unionRows } from '../evaluation/rows';
import { loadModel, type Prediction } from '../model/model';
import type { TruthSet } from './truth';

/**
 * The truth rows of the deployed versions (the union of their evaluation splits, as the offline
 * evaluation scores them) and each version's offline answers, from the model server's own code.
 */
export async function loadTruthSet(
  modelsDir: string,
  versions: readonly string[],
  margin?: QualityMargin,
): Promise<TruthSet> {
  const distinct = [...new Set(versions)];
  const rows = unionRows(
    await Promise.all(distinct.map((version) => readEvaluationRows(path.join(modelsDir, version)))),
  );
  const offline: Record<string, Prediction[]> = {};
  for (const version of distinct) {
    const model = await loadModel(path.join(modelsDir, version));
    try {
      offline[version] = await model.predict(rows.map((row) => row.features));
    } finally {
      await model.release();
    }
  }
  return { rows, offline, margin };
}
