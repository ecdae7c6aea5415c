/**
 * `npm run evaluate`: offline evaluation of a candidate model version against its baseline
 * (services/evaluation, docs/QUALITY.md).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { parseCli } from './cli';
import type { AppConfig } from '../lib/stages/stage-config';
import { type EvaluationReport } from '../services/evaluation/evaluate';
import { evaluateVersions, formatReport } from '../services/evaluation/run';
import { modelsRoot } from '../services/model/artifacts';
import { STAGE_KEYS, type StageKey } from '../services/registry/model-versions';

export const USAGE = `Usage: npm run evaluate -- --baseline VERSION --candidate VERSION [options]
       npm run evaluate -- --stage dev|prod [options]

Scores both model versions with the model server's own inference code on the same labelled rows
(the union of both versions' evaluation.jsonl), paired, and decides with a one-sided test at
alpha 0.05 against the stage's margin (docs/QUALITY.md). Classification: accuracy, per-class recall,
log loss; regression: MAE and RMSE.

  --baseline VERSION   the version serving now (a folder under --models-dir)
  --candidate VERSION  the version to judge
  --stage dev|prod     take both versions from config/model-versions.json and the margin from the
                       stage's quality.margin in bin/config.ts
  --margin-accuracy F  accuracy points the candidate may lose, as a fraction (default 0.01)
  --margin-mae F       share of the baseline's MAE the candidate may add (default 0.05)
  --strict             fail unless non-inferiority is shown (too few rows fails too)
  --json               print the report as JSON instead of the table
  --out FILE           also write the JSON report to FILE (the pipeline keeps it with the synth output)
  --models-dir DIR     folder of model packages (default: the repository's models/)
  --help               this text

Exit codes: 0 the candidate may deploy, 1 it may not (or the versions cannot be compared: the
message says what to fix), 2 bad arguments.`;

const FLAGS = {
  baseline: 'string',
  candidate: 'string',
  stage: 'string',
  'margin-accuracy': 'string',
  'margin-mae': 'string',
  strict: 'boolean',
  json: 'boolean',
  out: 'string',
  'models-dir': 'string',
} as const;

function usageError(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

function fraction(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed) || parsed < 0)
    usageError(`--${flag} must be a fraction >= 0, got "${value}"`);
  return parsed;
}

async function stageInputs(
  stage: string,
): Promise<{ baseline: string; candidate: string; config: AppConfig[StageKey] }> {
  if (!(STAGE_KEYS as readonly string[]).includes(stage))
    usageError(`--stage must be one of ${STAGE_KEYS.join(', ')}`);
  const { loadConfig } = await import('../bin/config');
  const stageConfig = loadConfig()[stage as StageKey];
  const { baselineVersion, candidateVersion } = stageConfig.endpoint ?? {};
  if (!baselineVersion || !candidateVersion) {
    throw new Error(`bin/config.ts: ${stage}.endpoint names no baselineVersion and candidateVersion`);
  }
  return { baseline: baselineVersion, candidate: candidateVersion, config: stageConfig };
}

async function main(): Promise<number> {
  const values = parseCli(process.argv.slice(2), { usage: USAGE, flags: FLAGS });
  let { baseline, candidate } = values;
  let modelsDir = values['models-dir'] ?? modelsRoot;
  let margin = {
    accuracy: fraction(values['margin-accuracy'], 'margin-accuracy'),
    relativeMae: fraction(values['margin-mae'], 'margin-mae'),
  };
  if (values.stage !== undefined) {
    if (baseline !== undefined || candidate !== undefined)
      usageError('--stage takes the versions from config; drop --baseline/--candidate');
    const stage = await stageInputs(values.stage);
    ({ baseline, candidate } = stage);
    modelsDir = values['models-dir'] ?? stage.config.endpoint?.modelsDir ?? modelsRoot;
    const configured = stage.config.quality?.margin ?? {};
    margin = {
      accuracy: margin.accuracy ?? configured.accuracy,
      relativeMae: margin.relativeMae ?? configured.relativeMae,
    };
  }
  if (baseline === undefined || candidate === undefined)
    usageError('name --baseline and --candidate (or --stage)');
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const report: EvaluationReport = await evaluateVersions({
    modelsDir: path.resolve(modelsDir),
    baselineVersion: baseline,
    candidateVersion: candidate,
    margin: Object.fromEntries(Object.entries(margin).filter(([, v]) => v !== undefined)),
    strict: values.strict === true,
    log,
  });
  const json = `${JSON.stringify(report, null, 2)}\n`;
  if (values.out !== undefined) {
    await mkdir(path.dirname(path.resolve(values.out)), { recursive: true });
    await writeFile(values.out, json);
    log(`Report written to ${values.out}`);
  }
  process.stdout.write(values.json ? json : formatReport(report));
  if (!report.passed) {
    process.stderr.write(
      `The candidate ${candidate} may not deploy. Fix the model (or its label order and feature order in metadata.json) ` +
        `and add it again with npm run model:add, or keep the baseline in config/model-versions.json.\n`,
    );
  }
  return report.passed ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`Evaluation failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
