import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { ModelMetadata, parseModelMetadata } from './metadata';
import { unscorableInput } from './validation';

/** A classifier's answer for one row: the most probable label and every label's probability. */
export interface ClassPrediction {
  readonly label: string;
  readonly probabilities: number[];
}

/** A regressor's answer for one row. */
export interface ValuePrediction {
  readonly value: number;
}

/** One row's answer; discriminate with `'value' in prediction`. */
export type Prediction = ClassPrediction | ValuePrediction;

/** A loaded model, ready to score rows. */
export interface LoadedModel {
  readonly metadata: ModelMetadata;
  readonly inputName: string;
  /** The graph output the answers are read from (`metadata.outputs`). */
  readonly outputName: string;
  /** Scores validated rows (each `metadata.featureCount` long), one prediction per row in order. */
  predict(rows: readonly (readonly number[])[]): Promise<Prediction[]>;
  release(): Promise<void>;
}

/** Thrown when `model.onnx` and `metadata.json` do not describe a model the server can serve. */
export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';
}

const PROBABILITY_DIGITS = 6;
/** float32 holds about 7 significant digits; more would print noise. */
const VALUE_DIGITS = 7;

function tensorMetadata(
  metadata: readonly InferenceSession.ValueMetadata[],
  name: string,
): InferenceSession.TensorValueMetadata | undefined {
  const found = metadata.find((m) => m.name === name);
  return found?.isTensor ? found : undefined;
}

function checkShape(
  value: InferenceSession.TensorValueMetadata | undefined,
  shapes: readonly (readonly number[])[],
  what: string,
  implied: string,
): void {
  if (!value) return;
  if (value.type !== 'float32')
    throw new ModelLoadError(`${what} "${value.name}" must be float32, is ${value.type}`);
  // Symbolic dimensions (the batch size) match anything; -1 in `shapes` marks the batch dimension.
  const fits = shapes.some(
    (shape) =>
      shape.length === value.shape.length &&
      shape.every((d, i) => d === -1 || typeof value.shape[i] !== 'number' || value.shape[i] === d),
  );
  if (!fits) {
    throw new ModelLoadError(
      `${what} "${value.name}" has shape [${value.shape.join(', ')}]; metadata.json implies ${implied}`,
    );
  }
}

/** Label and rounded probabilities of each row of a flat `[rows, labels]` output. */
export function toPredictions(output: Float32Array, labels: readonly string[]): ClassPrediction[] {
  const width = labels.length;
  if (output.length % width !== 0) {
    throw new Error(`Model output has ${output.length} values, not a multiple of ${width} labels`);
  }
  return Array.from({ length: output.length / width }, (_, r) => {
    const row = Array.from(output.subarray(r * width, (r + 1) * width));
    if (row.some((p) => !Number.isFinite(p))) {
      throw unscorableInput(`Model output row ${r} is not finite: the model cannot score this input`);
    }
    const best = row.reduce((bestIndex, p, i) => (p > row[bestIndex] ? i : bestIndex), 0);
    return { label: labels[best], probabilities: row.map((p) => Number(p.toFixed(PROBABILITY_DIGITS))) };
  });
}

/** The value of each row of a flat `[rows]` or `[rows, 1]` output. */
export function toValues(output: Float32Array): ValuePrediction[] {
  return Array.from(output, (v, r) => {
    if (!Number.isFinite(v)) {
      throw unscorableInput(`Model output row ${r} is not finite: the model cannot score this input`);
    }
    return { value: Number(v.toPrecision(VALUE_DIGITS)) };
  });
}

async function readMetadata(modelDir: string): Promise<ModelMetadata> {
  const file = path.join(modelDir, 'metadata.json');
  const text = await readFile(file, 'utf8').catch((error: unknown) => {
    throw new ModelLoadError(`Cannot read ${file}: ${(error as Error).message}`);
  });
  try {
    return parseModelMetadata(JSON.parse(text));
  } catch (error) {
    throw new ModelLoadError(`${file}: ${(error as Error).message}`);
  }
}

async function createSession(modelDir: string): Promise<InferenceSession> {
  const file = path.join(modelDir, 'model.onnx');
  try {
    return await InferenceSession.create(file, { graphOptimizationLevel: 'all' });
  } catch (error) {
    throw new ModelLoadError(`Cannot load ${file}: ${(error as Error).message}`);
  }
}

/**
 * Loads `model.onnx` and `metadata.json` from a model directory, checks that they agree (one float32 input of
 * `[N, featureCount]`; the output `metadata.outputs` names, `[N, labels.length]` for a classifier, `[N]` or
 * `[N, 1]` for a regressor) and scores one row to prove it.
 * @throws ModelLoadError with a message that says which file is wrong and how.
 */
export async function loadModel(modelDir: string): Promise<LoadedModel> {
  const metadata = await readMetadata(modelDir);
  const session = await createSession(modelDir);
  try {
    if (session.inputNames.length !== 1) {
      throw new ModelLoadError(`model.onnx must have one input, has ${session.inputNames.join(', ')}`);
    }
    const inputName = session.inputNames[0];
    const outputName =
      metadata.task === 'classification' ? metadata.outputs.probabilities : metadata.outputs.value;
    if (!session.outputNames.includes(outputName)) {
      throw new ModelLoadError(
        `metadata.json outputs name "${outputName}", but model.onnx has outputs ${session.outputNames.join(', ')}`,
      );
    }
    checkShape(
      tensorMetadata(session.inputMetadata, inputName),
      [[-1, metadata.featureCount]],
      'Input',
      `[N, ${metadata.featureCount}]`,
    );
    const output = tensorMetadata(session.outputMetadata, outputName);
    if (metadata.task === 'classification') {
      const width = metadata.labels.length;
      checkShape(output, [[-1, width]], 'Output', `[N, ${width}]`);
    } else {
      checkShape(output, [[-1], [-1, 1]], 'Output', '[N] or [N, 1]');
    }

    const predict = async (rows: readonly (readonly number[])[]): Promise<Prediction[]> => {
      const input = new Tensor('float32', Float32Array.from(rows.flat()), [
        rows.length,
        metadata.featureCount,
      ]);
      const result = (await session.run({ [inputName]: input }, [outputName]))[outputName];
      if (result.type !== 'float32') throw new Error(`Model output is ${result.type}, expected float32`);
      const data = result.data as Float32Array;
      const predictions =
        metadata.task === 'classification' ? toPredictions(data, metadata.labels) : toValues(data);
      if (predictions.length !== rows.length) {
        throw new Error(`Model answered ${predictions.length} rows for ${rows.length}`);
      }
      return predictions;
    };

    await predict([new Array<number>(metadata.featureCount).fill(0)]).catch((error: unknown) => {
      throw new ModelLoadError(`model.onnx failed a test inference: ${(error as Error).message}`);
    });
    return { metadata, inputName, outputName, predict, release: () => session.release() };
  } catch (error) {
    await session.release();
    throw error;
  }
}
