import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseCli } from './cli';

const USAGE = `Usage: npm run acks [-- --json] [-- --cdk-out DIR]

Lists every compliance acknowledgement in a synthesized cloud assembly (run \`npm run synth\` first):
per pack the number of acknowledgements, then each rule with its reason and the resources it covers.
  --json        print the rows as JSON instead of tables
  --cdk-out DIR cloud assembly to read (default: cdk.out)
  --help        this text`;

/** One acknowledged finding on one construct. */
export interface Acknowledgement {
  readonly stage: string;
  readonly pack: string;
  readonly rule: string;
  readonly path: string;
  readonly reason: string;
}

interface MetadataEntry {
  readonly type: string;
  readonly data?: unknown;
}

interface ManifestArtifact {
  readonly type: string;
  readonly properties?: { readonly directoryName?: string };
  readonly additionalMetadataFile?: string;
  readonly metadata?: Record<string, MetadataEntry[]>;
}

/** One stack's metadata, and the directory of the assembly it belongs to. */
interface StackMetadata {
  readonly assemblyDir: string;
  readonly metadata: Record<string, MetadataEntry[]>;
}

/**
 * The metadata of every stack the assembly's manifest names, following nested assemblies (stages)
 * through the manifest too: directories an earlier synth left in cdk.out (a sandbox next to the
 * pipeline, a removed stage) are not part of the app and are not read.
 */
function stackMetadata(dir: string): StackMetadata[] {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {
    artifacts?: Record<string, ManifestArtifact>;
  };
  return Object.values(manifest.artifacts ?? {}).flatMap((artifact): StackMetadata[] => {
    if (artifact.type === 'cdk:cloud-assembly' && artifact.properties?.directoryName) {
      return stackMetadata(path.join(dir, artifact.properties.directoryName));
    }
    if (artifact.type !== 'aws:cloudformation:stack') return [];
    const fromFile = artifact.additionalMetadataFile
      ? (JSON.parse(fs.readFileSync(path.join(dir, artifact.additionalMetadataFile), 'utf8')) as Record<
          string,
          MetadataEntry[]
        >)
      : {};
    return [{ assemblyDir: dir, metadata: { ...artifact.metadata, ...fromFile } }];
  });
}

/** Reads the acknowledgements CDK records as `aws:cdk:acknowledged-rules` stack metadata. */
export function readAcknowledgements(cdkOut: string): Acknowledgement[] {
  if (!fs.existsSync(path.join(cdkOut, 'manifest.json'))) {
    throw new Error(`No cloud assembly in ${cdkOut}: run \`npm run synth\` first.`);
  }
  const rows: Acknowledgement[] = [];
  for (const { assemblyDir, metadata } of stackMetadata(cdkOut)) {
    const relative = path.relative(cdkOut, assemblyDir);
    const stage = relative === '' ? 'pipeline' : relative.replace(/^.*assembly-[^-]+-?/, '') || relative;
    for (const [constructPath, entries] of Object.entries(metadata)) {
      for (const entry of entries) {
        if (entry.type !== 'aws:cdk:acknowledged-rules' || typeof entry.data !== 'object' || !entry.data)
          continue;
        for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
          const split = id.indexOf('::');
          const [pack, rule] = split > 0 ? [id.slice(0, split), id.slice(split + 2)] : ['Annotation', id];
          rows.push({ stage, pack, rule, path: constructPath.replace(/^\//, ''), reason });
        }
      }
    }
  }
  return rows;
}

function main(argv: string[]): void {
  const flags = parseCli(argv, { usage: USAGE, flags: { json: 'boolean', 'cdk-out': 'string' } });
  const cdkOut = flags['cdk-out'] ?? 'cdk.out';
  const rows = readAcknowledgements(cdkOut);
  if (flags.json) {
    console.log(JSON.stringify(rows, null, 2));
    return;
  }
  const byPack = new Map<string, Acknowledgement[]>();
  for (const row of rows) byPack.set(row.pack, [...(byPack.get(row.pack) ?? []), row]);
  console.log(`${rows.length} acknowledgements in ${cdkOut}\n`);
  console.log('| pack | acknowledgements | pipeline | Dev | Prod |\n|---|---|---|---|---|');
  for (const [pack, list] of [...byPack].sort()) {
    const count = (stage: string) => list.filter((r) => r.stage === stage).length;
    console.log(`| ${pack} | ${list.length} | ${count('pipeline')} | ${count('Dev')} | ${count('Prod')} |`);
  }
  for (const [pack, list] of [...byPack].sort()) {
    console.log(`\n## ${pack}\n`);
    const byReason = new Map<string, Acknowledgement[]>();
    for (const row of list) {
      const key = `${row.rule}\u0000${row.reason}`;
      byReason.set(key, [...(byReason.get(key) ?? []), row]);
    }
    for (const [key, group] of [...byReason].sort()) {
      const [rule, reason] = key.split('\u0000');
      console.log(`- **${rule}** (${group.length}): ${reason}`);
      for (const row of group.slice(0, 3)) console.log(`    - ${row.path}`);
      if (group.length > 3) console.log(`    - ... and ${group.length - 3} more`);
    }
  }
}

if (require.main === module) {
  try {
    main(process.argv.slice(2));
  } catch (error) {
    console.error(`acks: ${(error as Error).message}`);
    process.exit(1);
  }
}
