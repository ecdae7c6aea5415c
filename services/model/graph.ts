import { InferenceSession, Tensor } from 'onnxruntime-node';
import { onnx } from 'onnx-proto';

/**
 * What `model:add` refuses: the message says what is wrong with the model or the data, then how to fix it
 * (usually an export option).
 */
export class ModelRefusedError extends Error {
  override readonly name = 'ModelRefusedError';

  constructor(problem: string, fix: string) {
    super(`${problem}\n  Fix: ${fix}`);
  }
}

/** One graph output as ONNX Runtime produced it for the data. */
export interface OutputValue {
  readonly name: string;
  readonly type: Tensor.Type;
  /** Actual dimensions for all rows, e.g. `[rows, 3]`. */
  readonly dims: readonly number[];
  readonly data: Tensor['data'];
}

/** The model's one input and every output, evaluated on the data's rows. */
export interface GraphRun {
  readonly inputName: string;
  readonly outputs: readonly OutputValue[];
}

const BATCH_ROWS = 1000;

function hasZipMap(onnxBytes: Uint8Array): boolean {
  const model = onnx.ModelProto.decode(onnxBytes);
  return (model.graph?.node ?? []).some((node) => node.opType === 'ZipMap');
}

function checkInput(session: InferenceSession, featureNames: readonly string[]): string {
  if (session.inputNames.length !== 1) {
    throw new ModelRefusedError(
      `The model has ${session.inputNames.length} inputs (${session.inputNames.join(', ')}); the server feeds one ` +
        `float tensor [N, features].`,
      'export with a single input of all features, e.g. skl2onnx initial_types=[("input", FloatTensorType([None, ' +
        `${featureNames.length}]))] or one tensor argument to torch.onnx.export (concatenate column groups first).`,
    );
  }
  const input = session.inputMetadata[0];
  if (!input.isTensor || input.type !== 'float32') {
    throw new ModelRefusedError(
      `The model's input "${input.name}" is ${input.isTensor ? input.type : 'not a tensor'}; the server sends float32.`,
      'export with a float input: skl2onnx FloatTensorType (not DoubleTensorType or Int64TensorType), ' +
        'torch model.float() with a float32 example input.',
    );
  }
  const shape = input.shape;
  const width = shape[shape.length - 1];
  if (shape.length !== 2 || (typeof width === 'number' && width !== featureNames.length)) {
    throw new ModelRefusedError(
      `The model's input "${input.name}" has shape [${shape.join(', ')}], but the data has ` +
        `${featureNames.length} feature columns (${featureNames.join(', ')}).`,
      `give the data exactly the model's input columns in its input order (plus the label column), ` +
        `or export the model for [N, ${featureNames.length}].`,
    );
  }
  if (typeof shape[0] === 'number' && shape[0] !== -1) {
    throw new ModelRefusedError(
      `The model's input "${input.name}" has a fixed batch size of ${shape[0]}; the server scores batches.`,
      `export with a dynamic batch dimension: torch.onnx.export(..., dynamic_axes={"${input.name}": {0: "batch"}, ` +
        '<each output>: {0: "batch"}}); skl2onnx: FloatTensorType([None, F]).',
    );
  }
  return input.name;
}

function checkOutputs(session: InferenceSession, onnxBytes: Uint8Array): void {
  const nonTensor = session.outputMetadata.filter((output) => !output.isTensor);
  if (nonTensor.length === 0) return;
  const names = nonTensor.map((output) => output.name).join(', ');
  if (hasZipMap(onnxBytes)) {
    throw new ModelRefusedError(
      `The model's output ${names} is a ZipMap (a list of {label: probability} maps), not a probabilities tensor.`,
      "export without it: skl2onnx to_onnx(clf, X, options={id(clf): {'zipmap': False}}) " +
        "(or options={type(clf): {'zipmap': False}}); onnxmltools converters take the same option.",
    );
  }
  throw new ModelRefusedError(
    `The model's output ${names} is not a tensor (a sequence or map).`,
    'export outputs as tensors: class probabilities [N, K] (and optionally a label [N]), or a value [N] / [N, 1].',
  );
}

function concat(parts: readonly Tensor[]): { type: Tensor.Type; dims: number[]; data: Tensor['data'] } {
  const [first] = parts;
  const rows = parts.reduce((sum, part) => sum + (part.dims[0] ?? 0), 0);
  const dims = [rows, ...first.dims.slice(1)];
  if (parts.length === 1) return { type: first.type, dims, data: first.data };
  if (first.type === 'string') {
    return { type: first.type, dims, data: parts.flatMap((part) => [...(part.data as string[])]) };
  }
  const Type = (first.data as Float32Array).constructor as new (length: number) => Float32Array;
  const data = new Type(parts.reduce((sum, part) => sum + part.data.length, 0));
  let offset = 0;
  for (const part of parts) {
    data.set(part.data as Float32Array, offset);
    offset += part.data.length;
  }
  return { type: first.type, dims, data };
}

/**
 * Loads the model with ONNX Runtime, refuses a graph the server cannot feed (not one float input of the data's
 * width with a dynamic batch; a ZipMap or other non-tensor output) and runs every output on every row.
 * @throws ModelRefusedError naming the problem and the export option that avoids it.
 */
export async function runGraph(
  onnxBytes: Uint8Array,
  featureNames: readonly string[],
  rows: readonly (readonly number[])[],
): Promise<GraphRun> {
  let session: InferenceSession;
  try {
    session = await InferenceSession.create(onnxBytes);
  } catch (error) {
    throw new ModelRefusedError(
      `ONNX Runtime cannot load the model: ${(error as Error).message}`,
      'check that the file is an ONNX model (opset the runtime supports) and re-export it.',
    );
  }
  try {
    const inputName = checkInput(session, featureNames);
    checkOutputs(session, onnxBytes);
    const parts = new Map<string, Tensor[]>(session.outputNames.map((name) => [name, []]));
    for (let start = 0; start < rows.length; start += BATCH_ROWS) {
      const batch = rows.slice(start, start + BATCH_ROWS);
      const input = new Tensor('float32', Float32Array.from(batch.flat()), [
        batch.length,
        featureNames.length,
      ]);
      const result = await session.run({ [inputName]: input });
      for (const name of session.outputNames) parts.get(name)!.push(result[name]);
    }
    const outputs = session.outputNames.map((name) => ({ name, ...concat(parts.get(name)!) }));
    const wrong = outputs.find((output) => output.dims[0] !== rows.length);
    if (wrong) {
      throw new ModelRefusedError(
        `The model's output "${wrong.name}" has ${wrong.dims[0]} rows for ${rows.length} input rows.`,
        'export outputs with the batch as their first dimension (one row of output per input row).',
      );
    }
    return { inputName, outputs };
  } finally {
    await session.release();
  }
}
