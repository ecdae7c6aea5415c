import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { config as shippedConfig } from '../../bin/config';
import type { AppConfig, StageConfig } from '../../lib/stages/stage-config';
import { FIXTURE_BASELINE, FIXTURE_CANDIDATE, FIXTURE_MODELS_DIR } from './model-fixtures';

/** The feature flags and context of cdk.json, so tests build exactly what `cdk synth` builds. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'cdk.json'), 'utf8')) as {
    context: Record<string, unknown>;
  };
  return cdkJson.context;
}

/**
 * cdk.json's context without Lambda bundling: for tests that assert templates, not bundled code
 * (esbuild would otherwise run once per function per file).
 */
export function templateOnlyContext(): Record<string, unknown> {
  return { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] };
}

/** A fresh output directory for one synth. */
export function tempOutdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'cdk-test-'));
}

/** A stage of the shipped config serving the fixture versions instead of what config/model-versions.json names. */
function withFixtureModels(stage: StageConfig): StageConfig {
  return {
    ...stage,
    endpoint: {
      ...stage.endpoint,
      baselineVersion: FIXTURE_BASELINE,
      candidateVersion: FIXTURE_CANDIDATE,
      modelsDir: FIXTURE_MODELS_DIR,
    },
  };
}

/**
 * The configuration shipped in bin/config.ts (placeholders), with both stages on the fixture model versions:
 * tests must pass whatever config/model-versions.json says (a converge commit changes it).
 */
export const testConfig: AppConfig = {
  ...shippedConfig,
  dev: withFixtureModels(shippedConfig.dev),
  prod: withFixtureModels(shippedConfig.prod),
};
