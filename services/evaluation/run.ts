import * as path from 'node:path';
import { loadModel, type LoadedModel } from '../model/model';
import { type EvaluationReport, evaluatePair, type QualityMargin } from './evaluate';
import { readEvaluationRows, unionRows } from './rows';

/** Which pair to evaluate, and how. */
export interface EvaluateVersionsInput {
  /** Folder of `<version>/` model packages (the repository's `models/`). */
  readonly modelsDir: string;
  readonly baselineVersion: string;
  readonly candidateVersion: string;
  readonly margin?: QualityMargin;
  readonly strict?: boolean;
  /** Progress lines. */
  readonly log?: (line: string) => void;
}

/**
 * Loads both versions with the model server's inference code, scores both on the union of their
 * evaluation splits and decides.
 */
export async function evaluateVersions(input: EvaluateVersionsInput): Promise<EvaluationReport> {
  const log = input.log ?? (() => undefined);
  const dirs = [input.baselineVersion, input.candidateVersion].map((v) => path.join(input.modelsDir, v));
  const models: LoadedModel[] = [];
  try {
    for (const dir of dirs) {
      log(`Loading ${dir}`);
      models.push(await loadModel(dir));
    }
    const splits = await Promise.all(dirs.map((dir) => readEvaluationRows(dir)));
    const rows = unionRows(splits);
    log(
      `Scoring ${rows.length} labelled rows (${splits.map((s, i) => `${s.length} from ${[input.baselineVersion, input.candidateVersion][i]}`).join(', ')})`,
    );
    return await evaluatePair({
      baseline: models[0],
      candidate: models[1],
      rows,
      margin: input.margin,
      strict: input.strict,
    });
  } finally {
    await Promise.all(models.map((model) => model.release()));
  }
}

const pct = (value: number | undefined) => (value === undefined ? '-' : `${(value * 100).toFixed(2)} %`);
const points = (value: number) => `${value >= 0 ? '+' : ''}${(value * 100).toFixed(2)} pt`;
const num = (value: number | undefined) => (value === undefined ? '-' : value.toPrecision(4));

/** The report as the table `npm run evaluate` prints. */
export function formatReport(report: EvaluationReport): string {
  const { comparison: c, metrics } = report;
  const lines = [
    `Offline evaluation: candidate ${report.candidateVersion} against baseline ${report.baselineVersion}` +
      ` (${report.task}, ${report.rows} labelled rows, paired, one-sided α = ${report.alpha})`,
  ];
  const row = (name: string, b: string, cand: string) =>
    `  ${name.padEnd(22)}${b.padStart(12)}${cand.padStart(12)}`;
  lines.push(row('', 'baseline', 'candidate'));
  const b = metrics.baseline;
  const cand = metrics.candidate;
  if (c.metric === 'accuracy') {
    lines.push(row('accuracy', pct(b.accuracy), pct(cand.accuracy)));
    lines.push(row('log loss', num(b.logLoss), num(cand.logLoss)));
    for (const label of Object.keys(b.perClassRecall ?? {})) {
      lines.push(row(`recall ${label}`, pct(b.perClassRecall?.[label]), pct(cand.perClassRecall?.[label])));
    }
    const ci = c.interval ? ` (90 % CI ${points(c.interval.lower)} to ${points(c.interval.upper)})` : '';
    lines.push(`  difference ${points(c.difference)}${ci}; margin ${points(c.threshold)}`);
  } else {
    lines.push(row('MAE', num(b.mae), num(cand.mae)));
    lines.push(row('RMSE', num(b.rmse), num(cand.rmse)));
    const ci = c.interval ? ` (90 % CI ${num(c.interval.lower)} to ${num(c.interval.upper)})` : '';
    lines.push(
      `  MAE difference ${num(c.difference)}${ci}; margin +${num(c.threshold)} (${pct(report.margin.relativeMae)} of the baseline's)`,
    );
  }
  lines.push(report.summary);
  return `${lines.join('\n')}\n`;
}
