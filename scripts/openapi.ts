import { readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { openApiDocument } from '../lib/app/inference/api-models';
import { parseCli } from './cli';

/**
 * `npm run openapi`: writes docs/openapi.json, the OpenAPI document of the inference API, from the
 * models the API registers (lib/app/inference/api-models.ts). `--check` fails if it is stale.
 */

/** Where the committed document lives. */
export const OPENAPI_PATH = path.join(__dirname, '..', 'docs', 'openapi.json');

/** The document as committed: two-space JSON with a final newline. */
export function renderOpenApi(): string {
  return `${JSON.stringify(openApiDocument(), null, 2)}\n`;
}

const USAGE = `Usage: npm run openapi [-- --check]

Writes docs/openapi.json, the OpenAPI 3.0 document of POST /predict and GET /predictions/{id},
from the API Gateway models in lib/app/inference/api-models.ts.

  --check   exit 1 if docs/openapi.json differs from the models (write nothing)
  --help    show this text
`;

async function main(args: readonly string[]): Promise<number> {
  const { check } = parseCli(args, { usage: USAGE, flags: { check: 'boolean' } });
  const rendered = renderOpenApi();
  if (check) {
    const committed = await readFile(OPENAPI_PATH, 'utf8').catch(() => '');
    if (committed !== rendered) {
      process.stderr.write(
        'docs/openapi.json differs from the API models: run npm run openapi and commit it.\n',
      );
      return 1;
    }
    process.stdout.write('docs/openapi.json is up to date.\n');
    return 0;
  }
  await writeFile(OPENAPI_PATH, rendered);
  process.stdout.write(`Wrote ${path.relative(process.cwd(), OPENAPI_PATH)} (${rendered.length} bytes)\n`);
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (error: unknown) => {
      process.stderr.write(`openapi: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
