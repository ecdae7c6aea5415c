import {
  ObjectChangedError,
  type ObjectInfo,
  type ObjectStore,
} from '../../../services/batch/adapters/object-store';
import type { PredictionItem, PredictionsTable } from '../../../services/batch/adapters/predictions-table';
import { createHash } from 'node:crypto';

const etagOf = (body: string): string => createHash('md5').update(body).digest('hex');

/** In-memory {@link ObjectStore} with S3's semantics (ETag conditions included) for the calls the scorer makes. */
export function memoryStore(): ObjectStore & { readonly objects: Map<string, string> } {
  const objects = new Map<string, string>();
  const id = (bucket: string, key: string) => `${bucket}/${key}`;
  const get = (bucket: string, key: string): string => {
    const body = objects.get(id(bucket, key));
    if (body === undefined) throw Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey' });
    return body;
  };
  const getVersion = (bucket: string, key: string, etag: string): string => {
    const body = get(bucket, key);
    if (etagOf(body) !== etag) throw new ObjectChangedError(key, etag);
    return body;
  };
  return {
    objects,
    async list(bucket, prefix, limit, accept = () => true) {
      return [...objects.entries()]
        .filter(([k]) => k.startsWith(id(bucket, prefix)) && accept(k.slice(bucket.length + 1)))
        .sort(([a], [b]) => a.localeCompare(b))
        .slice(0, limit)
        .map(([k, body]): ObjectInfo => ({
          key: k.slice(bucket.length + 1),
          etag: etagOf(body),
          size: Buffer.byteLength(body),
        }));
    },
    async read(bucket, key, etag) {
      const body = getVersion(bucket, key, etag);
      return (async function* () {
        yield body;
      })();
    },
    getTextIfExists: async (bucket, key) => objects.get(id(bucket, key)),
    putText: async (bucket, key, body) =>
      void objects.set(id(bucket, key), typeof body === 'string' ? body : Buffer.from(body).toString('utf8')),
    copy: async (bucket, from, etag, to) => void objects.set(id(bucket, to), getVersion(bucket, from, etag)),
    async delete(bucket, key, etag) {
      if (etag !== undefined && objects.has(id(bucket, key))) getVersion(bucket, key, etag);
      objects.delete(id(bucket, key));
    },
  };
}

/** In-memory {@link PredictionsTable}. */
export function memoryTable(): PredictionsTable & { readonly items: Map<string, PredictionItem> } {
  const items = new Map<string, PredictionItem>();
  return {
    items,
    async putIfAbsent(item) {
      const existing = items.get(item.predictionId);
      if (existing) return { status: 'exists', existing };
      items.set(item.predictionId, item);
      return { status: 'created' };
    },
    async putOwned(batch) {
      for (const item of batch) items.set(item.predictionId, item);
    },
    async getMany(predictionIds) {
      const found = new Map<string, PredictionItem>();
      for (const predictionId of predictionIds) {
        const item = items.get(predictionId);
        if (item) found.set(predictionId, item);
      }
      return found;
    },
  };
}
