import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

/** Writes whole analytics objects; a put under an existing key replaces it. */
export interface ObjectWriter {
  putJsonLines(key: string, body: string): Promise<void>;
}

/** {@link ObjectWriter} over S3 for one bucket (encrypted by the bucket's default SSE-KMS key). */
export function createS3ObjectWriter(client: S3Client, bucket: string): ObjectWriter {
  return {
    async putJsonLines(key, body) {
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/x-ndjson' }),
      );
    },
  };
}
