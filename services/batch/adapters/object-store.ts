import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

/** An object as listed: the etag (without quotes) identifies its version. */
export interface ObjectInfo {
  readonly key: string;
  readonly etag: string;
  readonly size: number;
}

/** The S3 operations the scorer uses. */
export interface ObjectStore {
  /** Objects under `prefix` in key order, at most `limit`, skipping folder placeholders. */
  list(bucket: string, prefix: string, limit: number): Promise<ObjectInfo[]>;
  getText(bucket: string, key: string): Promise<string>;
  /** The object's text, or undefined when it does not exist. */
  getTextIfExists(bucket: string, key: string): Promise<string | undefined>;
  exists(bucket: string, key: string): Promise<boolean>;
  putText(bucket: string, key: string, body: string, contentType: string): Promise<void>;
  copy(bucket: string, fromKey: string, toKey: string): Promise<void>;
  delete(bucket: string, key: string): Promise<void>;
}

const isMissing = (error: unknown): boolean =>
  error instanceof NoSuchKey ||
  error instanceof NotFound ||
  (error instanceof Error && (error.name === 'NoSuchKey' || error.name === 'NotFound'));

/** {@link ObjectStore} over an S3 client. */
export function createS3ObjectStore(client: S3Client): ObjectStore {
  const getText = async (bucket: string, key: string): Promise<string> => {
    const { Body } = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    if (!Body) throw new Error(`s3://${bucket}/${key} has no body`);
    return Body.transformToString('utf-8');
  };

  return {
    async list(bucket, prefix, limit) {
      const found: ObjectInfo[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: prefix,
            ContinuationToken: token,
            MaxKeys: Math.min(1000, limit - found.length + 1),
          }),
        );
        for (const object of page.Contents ?? []) {
          if (!object.Key || object.Key.endsWith('/') || found.length >= limit) continue;
          found.push({
            key: object.Key,
            etag: (object.ETag ?? '').replace(/"/g, ''),
            size: object.Size ?? 0,
          });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token && found.length < limit);
      return found;
    },
    getText,
    async getTextIfExists(bucket, key) {
      try {
        return await getText(bucket, key);
      } catch (error) {
        if (isMissing(error)) return undefined;
        throw error;
      }
    },
    async exists(bucket, key) {
      try {
        await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return true;
      } catch (error) {
        if (isMissing(error)) return false;
        throw error;
      }
    },
    async putText(bucket, key, body, contentType) {
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }),
      );
    },
    async copy(bucket, fromKey, toKey) {
      await client.send(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: toKey,
          CopySource: `${bucket}/${fromKey.split('/').map(encodeURIComponent).join('/')}`,
        }),
      );
    },
    async delete(bucket, key) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },
  };
}
