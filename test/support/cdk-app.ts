import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { appConfig } from '../../bin/config';
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

const fixtureVersions = { baselineVersion: FIXTURE_BASELINE, candidateVersion: FIXTURE_CANDIDATE };
const shipped = appConfig({ dev: fixtureVersions, prod: fixtureVersions });

/** A stage of the shipped settings reading its fixture versions from the fixture folder. */
function withFixtureModels(stage: StageConfig): StageConfig {
  return { ...stage, endpoint: { ...stage.endpoint!, modelsDir: FIXTURE_MODELS_DIR } };
}

/**
 * bin/config.ts's settings (placeholders) with both stages on the fixture model versions: built without
 * reading config/model-versions.json, so tests pass whatever it says (a converge commit changes it).
 */
export const testConfig: AppConfig = {
  ...shipped,
  dev: withFixtureModels(shipped.dev),
  prod: withFixtureModels(shipped.prod),
};
