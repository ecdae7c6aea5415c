import type { ObjectInfo, ObjectStore } from '../../../services/batch/adapters/object-store';
import type { PredictionItem, PredictionsTable } from '../../../services/batch/adapters/predictions-table';
import { createHash } from 'node:crypto';

/** In-memory {@link ObjectStore} with S3's semantics for the calls the scorer makes. */
export function memoryStore(): ObjectStore & { readonly objects: Map<string, string> } {
  const objects = new Map<string, string>();
  const id = (bucket: string, key: string) => `${bucket}/${key}`;
  const get = (bucket: string, key: string): string => {
    const body = objects.get(id(bucket, key));
    if (body === undefined) throw Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey' });
    return body;
  };
  return {
    objects,
    async list(bucket, prefix, limit) {
      return [...objects.entries()]
        .filter(([k]) => k.startsWith(id(bucket, prefix)))
        .sort(([a], [b]) => a.localeCompare(b))
        .slice(0, limit)
        .map(([k, body]): ObjectInfo => ({
          key: k.slice(bucket.length + 1),
          etag: createHash('md5').update(body).digest('hex'),
          size: Buffer.byteLength(body),
        }));
    },
    getText: async (bucket, key) => get(bucket, key),
    getTextIfExists: async (bucket, key) => objects.get(id(bucket, key)),
    exists: async (bucket, key) => objects.has(id(bucket, key)),
    putText: async (bucket, key, body) => void objects.set(id(bucket, key), body),
    copy: async (bucket, from, to) => void objects.set(id(bucket, to), get(bucket, from)),
    delete: async (bucket, key) => void objects.delete(id(bucket, key)),
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
  };
}
