/**
 * `npm run model:add`: an exported ONNX model and its labelled data become `models/<version>/`.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { modelArtifactDir, modelsRoot } from '../services/model/artifacts';
import { ModelRefusedError } from '../services/model/graph';
import { LabelledDataError, parseLabelledData } from '../services/model/labelled-data';
import type { ModelTask } from '../services/model/metadata';
import { buildModelPackage, DEFAULT_EVAL_SHARE, writeModelPackage } from '../services/model/package-builder';
import { parseCli, UsageError } from './cli';

const USAGE = `Usage: npm run model:add -- --onnx FILE --data FILE --version vX.Y.Z [options]

Turns an exported ONNX model and its labelled data into models/vX.Y.Z/: model.onnx, metadata.json
(task, feature names, labels, feature statistics for drift, golden rows, evaluation metrics),
evaluation.jsonl (the held-out rows with their truth), requests.json (the rows the rollout traffic
replays), model.tar.gz and SHA256SUMS. The same inputs always give the same bytes. Then name the
version in config/model-versions.json and push.

  --onnx FILE           the model: one float input [N, features]; a classifier's probabilities
                        [N, K] (optionally with a label tensor), or a regressor's value [N] / [N, 1]
  --data FILE           CSV with a header (feature columns in the model's input order, then the
                        label or target) or JSON lines {"features": [...], "label": "..."} /
                        {"features": [...], "value": 1.5}
  --version vX.Y.Z      the folder to write under models/ (refused if it exists)
  --task T              classification or regression (default: from the model's outputs)
  --labels a,b,...      class labels in probability-column order (default: the label output's
                        values, else the data's labels sorted)
  --label-column NAME   CSV column holding the label or target (default: the last)
  --eval-share S        share of rows held out for evaluation and rollout traffic (default ${DEFAULT_EVAL_SHARE})
  --models-dir DIR      where version folders live (default models/)
  --help                this text

Exits 0 when written, 1 when the model or data is refused (the message says why and how to fix
the export), 2 on bad arguments.`;

const FLAGS = {
  onnx: 'string',
  data: 'string',
  version: 'string',
  task: 'string',
  labels: 'string',
  'label-column': 'string',
  'eval-share': 'string',
  'models-dir': 'string',
} as const;

function required(value: string | undefined, flag: string): string {
  if (value === undefined) throw new UsageError(`--${flag} is required`);
  return value;
}

function parseTask(value: string | undefined): ModelTask | undefined {
  if (value === undefined || value === 'classification' || value === 'regression') return value;
  throw new UsageError(`--task must be classification or regression, not "${value}"`);
}

async function main(argv: readonly string[]): Promise<number> {
  const values = parseCli(argv, { usage: USAGE, flags: FLAGS });
  let options;
  try {
    const share = values['eval-share'] === undefined ? undefined : Number(values['eval-share']);
    if (share !== undefined && !(share > 0 && share < 1)) {
      throw new UsageError(`--eval-share must be a number between 0 and 1, not "${values['eval-share']}"`);
    }
    options = {
      onnx: required(values.onnx, 'onnx'),
      data: required(values.data, 'data'),
      version: required(values.version, 'version'),
      task: parseTask(values.task),
      labels: values.labels?.split(',').map((label) => label.trim()),
      labelColumn: values['label-column'],
      evalShare: share,
      root: values['models-dir'] ?? modelsRoot,
    };
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\n\n${USAGE}\n`);
    return 2;
  }
  const target = modelArtifactDir(options.version, options.root);
  if (existsSync(target)) {
    process.stderr.write(
      `${path.relative(process.cwd(), target)} exists: versions are immutable once added; pick the next version number.\n`,
    );
    return 1;
  }
  const say = (line: string) => process.stdout.write(`${line}\n`);
  try {
    say(`Reading ${options.data}`);
    const data = parseLabelledData(await readFile(options.data, 'utf8'), {
      labelColumn: options.labelColumn,
      file: path.basename(options.data),
    });
    say(`  ${data.rows.length} rows, ${data.featureNames.length} features (${data.featureNames.join(', ')})`);
    say(`Running ${options.onnx} on them with ONNX Runtime`);
    const started = performance.now();
    const modelPackage = await buildModelPackage({
      version: options.version,
      onnx: await readFile(options.onnx),
      data,
      dataSource: path.basename(options.data),
      task: options.task,
      labels: options.labels,
      evalShare: options.evalShare,
    });
    const { metadata } = modelPackage;
    say(
      `  ${metadata.task}, read from ${JSON.stringify(metadata.outputs)} (${Math.round(performance.now() - started)} ms)`,
    );
    if (metadata.task === 'classification') say(`  labels: ${metadata.labels.join(', ')}`);
    say(
      `  evaluation on ${metadata.evaluation?.rows} held-out rows: ${JSON.stringify(metadata.evaluation?.metrics)}`,
    );
    await writeModelPackage(modelPackage, target);
    say(`Wrote ${path.relative(process.cwd(), target)}/ (${[...modelPackage.files.keys()].join(', ')})`);
    say(
      `Next: name ${options.version} in config/model-versions.json (a stage's candidateVersion), commit and push.`,
    );
    return 0;
  } catch (error) {
    if (error instanceof ModelRefusedError || error instanceof LabelledDataError) {
      process.stderr.write(`model:add refused ${options.version}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
