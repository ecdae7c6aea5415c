/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // tsconfig has isolatedModules: ts-jest transpiles without type-checking (that is `npm run lint`).
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  // ort-realm: onnxruntime-node builds typed arrays in the main realm; jest runs each file in its own.
  setupFiles: ['<rootDir>/test/setup/quiet-bundling.ts', '<rootDir>/test/setup/ort-realm.ts'],
  // Records the runtime code's AWS calls for test/iam (IAM and network coverage).
  setupFilesAfterEnv: ['<rootDir>/test/setup/aws-calls.ts'],
  testTimeout: 60000,
  // Synth-heavy suites are CPU bound; the machine has two cores.
  maxWorkers: 2,
};
