import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { UsageError } from '../../scripts/cli';
import { servedVersions } from '../../services/local/served-versions';
import { formatModelVersions } from '../../services/registry/model-versions';

const file = path.join(mkdtempSync(path.join(tmpdir(), 'served-versions-')), 'model-versions.json');
writeFileSync(
  file,
  formatModelVersions({
    dev: { baselineVersion: 'v2.0.0', candidateVersion: 'v2.1.0' },
    prod: { baselineVersion: 'v1.4.0', candidateVersion: 'v2.0.0' },
  }),
);

it('serves what the config says dev deploys, or prod with --prod', () => {
  expect(servedVersions({}, file)).toEqual(['v2.0.0', 'v2.1.0']);
  expect(servedVersions({ dev: true }, file)).toEqual(['v2.0.0', 'v2.1.0']);
  expect(servedVersions({ prod: true }, file)).toEqual(['v1.4.0', 'v2.0.0']);
});

it('serves two named versions whatever the config says', () => {
  expect(servedVersions({ baseline: 'v3.0.0', candidate: 'v3.1.0' }, file)).toEqual(['v3.0.0', 'v3.1.0']);
});

it.each([
  [{ baseline: 'v3.0.0' }, '--baseline and --candidate go together'],
  [
    { dev: true as const, prod: true as const },
    'choose one of --dev, --prod, or --baseline with --candidate',
  ],
  [{ prod: true as const, baseline: 'v1.0.0', candidate: 'v1.0.0' }, 'choose one of'],
])('refuses contradicting flags %j', (flags, message) => {
  expect(() => servedVersions(flags, file)).toThrow(UsageError);
  expect(() => servedVersions(flags, file)).toThrow(message);
});
