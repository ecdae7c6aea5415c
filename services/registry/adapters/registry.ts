import { GetParameterCommand, ParameterNotFound, type SSMClient } from '@aws-sdk/client-ssm';
import { parseRejectedArchive, rejectedArchiveParameter } from '../rejections';

/** What the registry records for one version: its status, or that it has no document there. */
export type RecordedStatus = 'baseline' | 'candidate' | 'active' | 'rejected' | 'missing' | 'unreadable';

/** One stage's model registry (docs/CONTRACTS.md, Parameter Store), as far as a check needs it. */
export interface RegistrySnapshot {
  /** `/<project>/<stage>/model`. */
  readonly prefix: string;
  /** `<prefix>/active-version`: what the stage serves after its last decision; undefined before the first deploy. */
  readonly activeVersion?: string;
  /** Status of each version asked for, from `<prefix>/versions/<version>`. */
  readonly statuses: Readonly<Record<string, RecordedStatus>>;
  /** Of the archive SHA-256s asked for, those a rollout rejected, with the version rejected then. */
  readonly rejectedArchives: Readonly<Record<string, string>>;
}

/** A registry record exists but is not of its contract's shape: the guard cannot decide, so it fails. */
export class RegistryRecordError extends Error {
  override readonly name = 'RegistryRecordError';
}

/** Reads a stage's registry. */
export interface RegistryReader {
  /** Reads `versions`' statuses and which of `archives` (SHA-256s) were rejected; throws on any read error. */
  read(prefix: string, versions: readonly string[], archives?: readonly string[]): Promise<RegistrySnapshot>;
}

const STATUSES: readonly string[] = ['baseline', 'candidate', 'active', 'rejected'];

/**
 * Parameter Store-backed {@link RegistryReader}: `GetParameter` on `active-version` and on each
 * version's document, nothing else (the stage's registry reader role allows exactly that). A
 * parameter that does not exist is a fact (a version never deployed there), not an error.
 */
export class SsmRegistryReader implements RegistryReader {
  constructor(private readonly client: SSMClient) {}

  private async value(name: string): Promise<string | undefined> {
    try {
      const answer = await this.client.send(new GetParameterCommand({ Name: name }));
      return answer.Parameter?.Value;
    } catch (error) {
      if (error instanceof ParameterNotFound || (error as { name?: string }).name === 'ParameterNotFound') {
        return undefined;
      }
      throw error;
    }
  }

  async read(
    prefix: string,
    versions: readonly string[],
    archives: readonly string[] = [],
  ): Promise<RegistrySnapshot> {
    const activeVersion = (await this.value(`${prefix}/active-version`))?.trim();
    const statuses: Record<string, RecordedStatus> = {};
    for (const version of new Set(versions)) {
      const document = await this.value(`${prefix}/versions/${version}`);
      statuses[version] = document === undefined ? 'missing' : statusOf(document);
    }
    const rejectedArchives: Record<string, string> = {};
    for (const sha256 of new Set(archives)) {
      const name = rejectedArchiveParameter(prefix, sha256);
      const document = await this.value(name);
      if (document === undefined) continue;
      const record = parseRejectedArchive(document);
      if (!record || record.archiveSha256 !== sha256)
        throw new RegistryRecordError(`${name} is not a rejection record {version, archiveSha256, status}`);
      rejectedArchives[sha256] = record.version;
    }
    return { prefix, activeVersion: activeVersion || undefined, statuses, rejectedArchives };
  }
}

function statusOf(document: string): RecordedStatus {
  try {
    const status = (JSON.parse(document) as { status?: unknown }).status;
    return typeof status === 'string' && STATUSES.includes(status)
      ? (status as RecordedStatus)
      : 'unreadable';
  } catch {
    return 'unreadable';
  }
}
