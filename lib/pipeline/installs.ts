import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

interface PackageJson {
  readonly allowScripts?: Record<string, boolean>;
}
interface PackageLock {
  readonly packages: Record<string, { readonly version?: string }>;
}

/**
 * The version of `name` that package-lock.json pins, so the pipeline's build steps install the
 * same CLI that the tests and `npm run synth` ran (and never `latest`).
 */
export function lockedVersion(name: string): string {
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as PackageLock;
  const version = lock.packages[`node_modules/${name}`]?.version;
  if (!version) {
    throw new Error(
      `${name} is not in package-lock.json: add it with \`npm install --save-dev ${name}@<version>\``,
    );
  }
  return version;
}

/**
 * The packages whose install scripts the pipeline runs: those set to `true` under `allowScripts` in
 * package.json. None is today. esbuild, @parcel/watcher and the LevelDB bindings (dynalite) load
 * their prebuilt platform packages. onnxruntime-node ships its CPU binaries, and its script only
 * downloads GPU ones. protobufjs's script only checks versions.
 */
export function packagesAllowedScripts(): string[] {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as PackageJson;
  return Object.entries(pkg.allowScripts ?? {})
    .filter(([, allowed]) => allowed)
    .map(([name]) => name)
    .sort();
}

/**
 * The clean install of every build step: `npm ci` without install scripts (a compromised
 * dependency's postinstall would otherwise run with the step's role), then the allow-listed
 * packages' scripts only.
 */
export function npmInstallCommands(): string[] {
  const allowed = packagesAllowedScripts();
  return [
    'npm ci --ignore-scripts',
    ...(allowed.length > 0 ? [`npm rebuild --ignore-scripts=false ${allowed.join(' ')}`] : []),
  ];
}

/**
 * Build environment of every CodeBuild project of the pipeline, CDK Pipelines' own included
 * (self-mutation's `npm install -g aws-cdk`, asset publishing's `npm install -g cdk-assets`): npm
 * runs no install scripts anywhere. Scripts named on the command line (`npm test`, `npm run X`)
 * still run, but their `pre`/`post` scripts do not (package.json has none).
 */
export const NO_INSTALL_SCRIPTS = { NPM_CONFIG_IGNORE_SCRIPTS: { value: 'true' } };
