import { onnx } from 'onnx-proto';

/** A float32 initializer of the given shape. */
export function floatTensor(name: string, dims: number[], values: readonly number[]): onnx.ITensorProto {
  const raw = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => raw.writeFloatLE(v, i * 4));
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: raw };
}

/** A float32 graph input or output of the given shape (a string dimension is symbolic). */
export function floatValueInfo(name: string, dims: (number | string)[]): onnx.IValueInfoProto {
  const dim = dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return { name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim } } } };
}

/**
 * A linear ONNX model built in memory: `features` [N, weights.length] → MatMul, Add, then `probabilities`
 * [N, K] through a Softmax (classifier) or `value` [N, 1] (regressor, one weight column). For tests that
 * need a schema the exported fixtures do not have (many features, another task on the same features).
 */
export function linearOnnx(
  weights: readonly (readonly number[])[],
  task: 'classification' | 'regression',
): Buffer {
  const width = weights.length;
  const outputs = weights[0].length;
  const output = task === 'classification' ? 'probabilities' : 'value';
  const nodes: onnx.INodeProto[] = [
    { opType: 'MatMul', input: ['features', 'weights'], output: ['linear'] },
    { opType: 'Add', input: ['linear', 'bias'], output: [task === 'classification' ? 'logits' : output] },
  ];
  if (task === 'classification') {
    nodes.push({
      opType: 'Softmax',
      input: ['logits'],
      output: [output],
      attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
    });
  }
  const proto = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'linear',
      node: nodes,
      initializer: [
        floatTensor('weights', [width, outputs], weights.flat()),
        floatTensor('bias', [outputs], new Array<number>(outputs).fill(0)),
      ],
      input: [floatValueInfo('features', ['N', width])],
      output: [floatValueInfo(output, ['N', outputs])],
    },
  });
  return Buffer.from(onnx.ModelProto.encode(proto).finish());
}
