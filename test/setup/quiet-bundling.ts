// CDK writes "Bundling asset <path>..." to stderr for every function a test synthesizes with bundling
// (AssetStaging, unconditionally); `npm run synth` drops the same line (scripts/synth.ts).
import { BUNDLING_LINE } from '../../scripts/synth';

const write = process.stderr.write.bind(process.stderr) as (...args: unknown[]) => boolean;
process.stderr.write = ((chunk: unknown, ...rest: unknown[]): boolean =>
  typeof chunk === 'string' && BUNDLING_LINE.test(chunk.trimEnd())
    ? true
    : write(chunk, ...rest)) as typeof process.stderr.write;
