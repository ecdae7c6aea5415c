import type { ClassificationOutputs, ModelTask, RegressionOutputs } from './metadata';
import { ModelRefusedError, type OutputValue } from './graph';

/** How a classifier's answers are read, as found on the data. */
export interface ClassifierReading {
  readonly task: 'classification';
  readonly outputs: ClassificationOutputs;
  /** `[rows * K]` probabilities, row-major. */
  readonly probabilities: Float32Array;
  readonly classCount: number;
  /** The label tensor's values as strings, when the graph has one. */
  readonly graphLabels?: readonly string[];
}

/** How a regressor's answers are read. */
export interface RegressorReading {
  readonly task: 'regression';
  readonly outputs: RegressionOutputs;
  readonly values: Float32Array;
}

/** The outputs `model:add` reads, and their values on the data. */
export type OutputReading = ClassifierReading | RegressorReading;

const SUM_TOLERANCE = 1e-3;

const isFloat = (output: OutputValue) => output.type === 'float32';
const isColumn = (output: OutputValue) =>
  output.dims.length === 1 || (output.dims.length === 2 && output.dims[1] === 1);
const isMatrix = (output: OutputValue) => output.dims.length === 2 && output.dims[1] >= 2;
const isLabelTensor = (output: OutputValue) =>
  (output.type === 'string' || output.type === 'int64' || output.type === 'int32') && isColumn(output);
const describe = (outputs: readonly OutputValue[]) =>
  outputs.map((o) => `"${o.name}" ${o.type} [${['N', ...o.dims.slice(1)].join(', ')}]`).join(', ');

function rowsAreProbabilities(output: OutputValue): boolean {
  const [rows, width] = output.dims;
  const data = output.data as Float32Array;
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let k = 0; k < width; k++) {
      const p = data[r * width + k];
      if (!(p >= 0 && p <= 1 + SUM_TOLERANCE)) return false;
      sum += p;
    }
    if (Math.abs(sum - 1) > SUM_TOLERANCE) return false;
  }
  return true;
}

/** Which task the outputs fit when `--task` is not given. */
function guessTask(outputs: readonly OutputValue[]): ModelTask {
  if (outputs.some((o) => (isFloat(o) && isMatrix(o)) || isLabelTensor(o))) return 'classification';
  if (outputs.some((o) => isFloat(o) && isColumn(o))) return 'regression';
  throw new ModelRefusedError(
    `The model's outputs fit neither task: ${describe(outputs)}.`,
    'export class probabilities as float [N, K] (K >= 2, optionally with a label [N] beside them) for a ' +
      'classifier, or one float [N] or [N, 1] for a regressor.',
  );
}

function classifierReading(outputs: readonly OutputValue[]): ClassifierReading {
  const float = outputs.filter(isFloat);
  const matrices = float.filter(isMatrix);
  if (matrices.length === 0) {
    const single = float.find((o) => o.dims.length === 2 && o.dims[1] === 1);
    throw new ModelRefusedError(
      single
        ? `The model's output "${single.name}" has one column; a classifier must give every class its probability.`
        : `The model has no float [N, K] probabilities output for a classifier: ${describe(outputs)}.`,
      'export probabilities [N, K] with K >= 2 (binary: both classes, e.g. torch.cat([1 - p, p], dim=1); ' +
        "skl2onnx and onnxmltools do this with options={id(clf): {'zipmap': False}}), or pass --task regression.",
    );
  }
  const probabilities = matrices.filter(rowsAreProbabilities);
  if (probabilities.length === 0) {
    throw new ModelRefusedError(
      `The model's output ${describe(matrices)} is not probabilities: its rows do not sum to 1 (logits or scores?).`,
      'end the graph with a softmax before exporting (torch: torch.softmax(logits, dim=1)).',
    );
  }
  const chosen = probabilities.find((o) => /prob/i.test(o.name)) ?? probabilities[0];
  const label = outputs.find(isLabelTensor);
  return {
    task: 'classification',
    outputs: label ? { probabilities: chosen.name, label: label.name } : { probabilities: chosen.name },
    probabilities: chosen.data as Float32Array,
    classCount: chosen.dims[1],
    ...(label ? { graphLabels: Array.from(label.data as ArrayLike<unknown>, (v) => String(v)) } : {}),
  };
}

function regressorReading(outputs: readonly OutputValue[]): RegressorReading {
  const candidates = outputs.filter((o) => isFloat(o) && isColumn(o));
  if (candidates.length === 0) {
    const double = outputs.find((o) => o.type === 'float64' && isColumn(o));
    throw new ModelRefusedError(
      double
        ? `The model's output "${double.name}" is float64; the server reads float32.`
        : `The model has no float [N] or [N, 1] output for a regressor: ${describe(outputs)}.`,
      'export the prediction as one float32 value per row, [N] or [N, 1] (torch: model.float(); ' +
        'skl2onnx: FloatTensorType input), or pass --task classification.',
    );
  }
  const chosen = candidates.find((o) => /variable|value|predict/i.test(o.name)) ?? candidates[0];
  return { task: 'regression', outputs: { value: chosen.name }, values: chosen.data as Float32Array };
}

/**
 * Picks the outputs the server will read: for a classifier the probabilities `[N, K]` (rows must sum to 1)
 * and a label tensor beside them if any; for a regressor a float `[N]` or `[N, 1]`.
 * @throws ModelRefusedError when the outputs fit neither task (or not the one asked for).
 */
export function selectOutputs(outputs: readonly OutputValue[], task?: ModelTask): OutputReading {
  const chosenTask = task ?? guessTask(outputs);
  return chosenTask === 'classification' ? classifierReading(outputs) : regressorReading(outputs);
}
