import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { BlobStore } from '../release';

/**
 * The release store in S3. `exists` lists exactly one key (the role's s3:ListBucket is limited to
 * that prefix), so a missing object is told apart from a denied one; objects are written with the
 * bucket's default SSE-KMS encryption.
 */
export class S3Store implements BlobStore {
  readonly location: string;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix = '',
  ) {
    this.location = `s3://${bucket}/${prefix}`;
  }

  async exists(key: string): Promise<boolean> {
    const answer = await this.client.send(
      new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + key, MaxKeys: 1 }),
    );
    return (answer.Contents ?? []).some((o) => o.Key === this.prefix + key);
  }

  async get(key: string): Promise<string> {
    const answer = await this.client.send(
      new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }),
    );
    if (!answer.Body) throw new Error(`${this.location}${key} has no body`);
    return answer.Body.transformToString('utf-8');
  }

  /** Closes the client's connections (a CLI run ends after its last call). */
  close(): void {
    this.client.destroy();
  }

  async put(key: string, body: string, contentType: string): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.prefix + key,
        Body: body,
        ContentType: contentType,
      }),
    );
  }
}

/** Splits `s3://bucket/prefix` into bucket and prefix (ending with `/` unless empty). */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!m) throw new Error(`--store must be s3://BUCKET[/PREFIX] or a directory, got '${url}'`);
  const prefix = m[2] ?? '';
  return { bucket: m[1], prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/` };
}
