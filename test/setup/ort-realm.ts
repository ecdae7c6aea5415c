import { runInThisContext } from 'node:vm';

/**
 * onnxruntime-node creates output tensors' typed arrays in Node's main realm, while jest runs each test file in
 * its own vm realm: onnxruntime-common's `instanceof Float32Array` check then rejects every output. Import this
 * before onnxruntime-node in a test file to give the test realm the main realm's typed-array constructors.
 */
const constructors = [
  'Float32Array',
  'Float64Array',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'BigInt64Array',
  'BigUint64Array',
] as const;

for (const name of constructors) {
  Object.defineProperty(globalThis, name, {
    configurable: true,
    writable: true,
    value: runInThisContext(name),
  });
}
