import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { config as shippedConfig } from '../../bin/config';
import type { AppConfig } from '../../lib/stages/stage-config';

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

/** The configuration shipped in bin/config.ts (placeholders). */
export const testConfig: AppConfig = shippedConfig;
