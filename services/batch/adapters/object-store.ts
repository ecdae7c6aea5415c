import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
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

/**
 * The listed version of an object is no longer the current one (S3 answered 412 to an ETag condition):
 * someone uploaded a new version under the same key.
 */
export class ObjectChangedError extends Error {
  constructor(
    readonly key: string,
    readonly etag: string,
  ) {
    super(`s3 object ${key} is no longer version ${etag}: it was overwritten`);
    this.name = 'ObjectChangedError';
  }
}

/** The S3 operations the scorer uses. Calls that take an `etag` act only on that version of the key. */
export interface ObjectStore {
  /**
   * Objects under `prefix` in key order, at most `limit` of those whose key `accept`s (all by default),
   * skipping folder placeholders.
   */
  list(
    bucket: string,
    prefix: string,
    limit: number,
    accept?: (key: string) => boolean,
  ): Promise<ObjectInfo[]>;
  /** The body of version `etag` as it streams in; throws {@link ObjectChangedError} if the key holds another. */
  read(bucket: string, key: string, etag: string): Promise<AsyncIterable<Uint8Array | string>>;
  /** The object's text, or undefined when it does not exist. */
  getTextIfExists(bucket: string, key: string): Promise<string | undefined>;
  /** Writes `body` (text, or UTF-8 bytes the caller keeps unchanged until the promise settles). */
  putText(bucket: string, key: string, body: string | Uint8Array, contentType: string): Promise<void>;
  /** Copies version `etag` of `fromKey`; throws {@link ObjectChangedError} if the key holds another. */
  copy(bucket: string, fromKey: string, etag: string, toKey: string): Promise<void>;
  /** Deletes the key. With `etag`, only while it still holds that version ({@link ObjectChangedError} if not). */
  delete(bucket: string, key: string, etag?: string): Promise<void>;
}

const isMissing = (error: unknown): boolean =>
  error instanceof NoSuchKey ||
  error instanceof NotFound ||
  (error instanceof Error && (error.name === 'NoSuchKey' || error.name === 'NotFound'));

const isPreconditionFailed = (error: unknown): boolean =>
  error instanceof Error &&
  (error.name === 'PreconditionFailed' ||
    (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 412);

const quoted = (etag: string): string => `"${etag}"`;

/**
 * {@link ObjectStore} over an S3 client. Version-bound calls use S3's ETag conditions (`If-Match` on
 * GetObject and DeleteObject, `x-amz-copy-source-if-match` on CopyObject): they need no permission
 * beyond s3:GetObject, s3:PutObject and s3:DeleteObject, and hold in versioned and unversioned buckets.
 */
export function createS3ObjectStore(client: S3Client): ObjectStore {
  const guarded = async <T>(key: string, etag: string | undefined, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (error) {
      if (etag !== undefined && isPreconditionFailed(error)) throw new ObjectChangedError(key, etag);
      throw error;
    }
  };

  return {
    async list(bucket, prefix, limit, accept = () => true) {
      const found: ObjectInfo[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: prefix,
            ContinuationToken: token,
            MaxKeys: 1000,
          }),
        );
        for (const object of page.Contents ?? []) {
          if (!object.Key || object.Key.endsWith('/') || found.length >= limit || !accept(object.Key))
            continue;
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
    async read(bucket, key, etag) {
      const { Body } = await guarded(key, etag, () =>
        client.send(new GetObjectCommand({ Bucket: bucket, Key: key, IfMatch: quoted(etag) })),
      );
      if (!Body) throw new Error(`s3://${bucket}/${key} has no body`);
      return Body as AsyncIterable<Uint8Array>;
    },
    async getTextIfExists(bucket, key) {
      try {
        const { Body } = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return Body ? await Body.transformToString('utf-8') : '';
      } catch (error) {
        if (isMissing(error)) return undefined;
        throw error;
      }
    },
    async putText(bucket, key, body, contentType) {
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }),
      );
    },
    async copy(bucket, fromKey, etag, toKey) {
      await guarded(fromKey, etag, () =>
        client.send(
          new CopyObjectCommand({
            Bucket: bucket,
            Key: toKey,
            CopySource: `${bucket}/${fromKey.split('/').map(encodeURIComponent).join('/')}`,
            CopySourceIfMatch: quoted(etag),
          }),
        ),
      );
    },
    async delete(bucket, key, etag) {
      await guarded(key, etag, () =>
        client.send(
          new DeleteObjectCommand({
            Bucket: bucket,
            Key: key,
            ...(etag !== undefined ? { IfMatch: quoted(etag) } : {}),
          }),
        ),
      );
    },
  };
}
