/**
 * `npm run test:images`: the container image tests, run after `npm run images` built the images.
 * Not part of `npm test` (test/images/engine.test.ts says so in one line when no engine runs).
 * @type {import('jest').Config}
 */
const base = require('./jest.config');

module.exports = {
  testEnvironment: base.testEnvironment,
  transform: base.transform,
  setupFiles: base.setupFiles,
  roots: ['<rootDir>/test/images'],
  testMatch: ['**/*.image-test.ts'],
  testTimeout: 180000,
  // The containers share the host network and two cores: one file at a time.
  maxWorkers: 1,
};
