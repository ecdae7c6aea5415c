import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { ModelMetadata, parseModelMetadata } from './metadata';
import { unscorableInput } from './validation';

/** One row's answer. */
export interface Prediction {
  readonly label: string;
  readonly probabilities: number[];
}

/** A loaded classifier, ready to score rows. */
export interface LoadedModel {
  readonly metadata: ModelMetadata;
  readonly inputName: string;
  readonly outputName: string;
  /** Scores validated rows (each `metadata.featureCount` long), one prediction per row in order. */
  predict(rows: readonly (readonly number[])[]): Promise<Prediction[]>;
  release(): Promise<void>;
}

/** Thrown when `model.onnx` and `metadata.json` do not describe a classifier the server can serve. */
export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';
}

const PREFERRED_OUTPUT = 'probabilities';
const PROBABILITY_DIGITS = 6;

function tensorMetadata(
  metadata: readonly InferenceSession.ValueMetadata[],
  name: string,
): InferenceSession.TensorValueMetadata | undefined {
  const found = metadata.find((m) => m.name === name);
  return found?.isTensor ? found : undefined;
}

function checkLastDimension(
  value: InferenceSession.TensorValueMetadata | undefined,
  expected: number,
  what: string,
): void {
  if (!value) return;
  if (value.type !== 'float32')
    throw new ModelLoadError(`${what} "${value.name}" must be float32, is ${value.type}`);
  const last = value.shape[value.shape.length - 1];
  if (value.shape.length !== 2 || (typeof last === 'number' && last !== expected)) {
    throw new ModelLoadError(
      `${what} "${value.name}" has shape [${value.shape.join(', ')}]; metadata.json implies [N, ${expected}]`,
    );
  }
}

/**
 * The output to read: `probabilities` when the graph has it, else its only output.
 * @throws ModelLoadError when the choice is ambiguous.
 */
export function selectOutputName(outputNames: readonly string[]): string {
  if (outputNames.includes(PREFERRED_OUTPUT)) return PREFERRED_OUTPUT;
  if (outputNames.length === 1) return outputNames[0];
  throw new ModelLoadError(
    `model.onnx has outputs ${outputNames.join(', ')}; name the class probabilities "${PREFERRED_OUTPUT}"`,
  );
}

/** Label and rounded probabilities of each row of a flat `[rows, labels]` output. */
export function toPredictions(output: Float32Array, labels: readonly string[]): Prediction[] {
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
 * `[N, featureCount]`, an output of `[N, labels.length]`) and scores one row to prove it.
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
    const outputName = selectOutputName(session.outputNames);
    checkLastDimension(tensorMetadata(session.inputMetadata, inputName), metadata.featureCount, 'Input');
    checkLastDimension(tensorMetadata(session.outputMetadata, outputName), metadata.labels.length, 'Output');

    const predict = async (rows: readonly (readonly number[])[]): Promise<Prediction[]> => {
      const input = new Tensor('float32', Float32Array.from(rows.flat()), [
        rows.length,
        metadata.featureCount,
      ]);
      const output = (await session.run({ [inputName]: input }, [outputName]))[outputName];
      if (output.type !== 'float32') throw new Error(`Model output is ${output.type}, expected float32`);
      const predictions = toPredictions(output.data as Float32Array, metadata.labels);
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
