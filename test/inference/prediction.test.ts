import {
  buildPredictionItem,
  isPredictionId,
  newPredictionId,
  predictionIdForRequestId,
  predictionIdForStreamRecord,
  sameFeatures,
  toPredictAnswer,
} from '../../services/inference/prediction';
import { callerOf, UnknownCallerError } from '../../services/inference/caller';

const now = new Date('2026-11-25T12:00:00.500Z');
const base = {
  predictionId: predictionIdForRequestId('iam:a', 'req-1'),
  features: [5.1, 3.5, 1.4, 0.2],
  prediction: { label: 'setosa', probabilities: [0.9, 0.07, 0.03] },
  modelVersion: 'v1.0.0',
  invokedVariant: 'VariantA',
  source: 'api' as const,
  now,
};

describe('prediction ids', () => {
  it('derives a stable UUID-shaped id from a requestId, distinct per requestId and per source key', () => {
    expect(predictionIdForRequestId('iam:a', 'req-1')).toBe(predictionIdForRequestId('iam:a', 'req-1'));
    expect(predictionIdForRequestId('iam:a', 'req-1')).not.toBe(predictionIdForRequestId('iam:a', 'req-2'));
    expect(predictionIdForStreamRecord('req-1')).not.toBe(predictionIdForRequestId('iam:a', 'req-1'));
    for (const id of [
      predictionIdForRequestId('iam:a', 'x'),
      predictionIdForStreamRecord('shardId-0:1'),
      newPredictionId(),
    ]) {
      expect(isPredictionId(id)).toBe(true);
    }
    expect(predictionIdForRequestId('iam:a', 'req-1')).not.toBe(predictionIdForRequestId('iam:b', 'req-1'));
    expect(predictionIdForRequestId('stream', 'req-1')).not.toBe(predictionIdForRequestId('batch', 'req-1'));
    expect(newPredictionId()).not.toBe(newPredictionId());
    expect(isPredictionId('not-an-id')).toBe(false);
  });
});

describe('buildPredictionItem', () => {
  it('stores the contract fields with expirationTime 30 days after timestamp, in epoch seconds', () => {
    expect(buildPredictionItem({ ...base, requestId: 'req-1' })).toEqual({
      predictionId: base.predictionId,
      timestamp: '2026-11-25T12:00:00.500Z',
      modelVersion: 'v1.0.0',
      invokedVariant: 'VariantA',
      prediction: base.prediction,
      inputFeatures: base.features,
      expirationTime: Math.floor(now.getTime() / 1000) + 30 * 86_400,
      source: 'api',
      requestId: 'req-1',
    });
  });

  it('honours a configured TTL and omits requestId when there is none', () => {
    const item = buildPredictionItem({ ...base, ttlDays: 7 });
    expect(item.expirationTime).toBe(Math.floor(now.getTime() / 1000) + 7 * 86_400);
    expect('requestId' in item).toBe(false);
  });

  it('answers from the item and recognises a genuine retry by its features', () => {
    const item = buildPredictionItem(base);
    expect(toPredictAnswer(item)).toEqual({
      predictionId: base.predictionId,
      result: base.prediction,
      modelVersion: 'v1.0.0',
      variant: 'VariantA',
    });
    expect(sameFeatures(item, [5.1, 3.5, 1.4, 0.2])).toBe(true);
    expect(sameFeatures(item, [5.1, 3.5, 1.4, 0.3])).toBe(false);
    expect(sameFeatures(item, [5.1, 3.5, 1.4])).toBe(false);
  });
});

describe('callerOf', () => {
  const event = (userArn?: string) =>
    ({ requestContext: { identity: { userArn } } }) as unknown as Parameters<typeof callerOf>[0];

  it('keeps a user ARN and cuts an assumed-role session to its role, so retries after a refresh match', () => {
    expect(callerOf(event('arn:aws:iam::123456789012:user/ops/alice'))).toBe(
      'arn:aws:iam::123456789012:user/ops/alice',
    );
    expect(callerOf(event('arn:aws:sts::123456789012:assumed-role/Smoke/session-1'))).toBe(
      'arn:aws:sts::123456789012:assumed-role/Smoke',
    );
    expect(callerOf(event('arn:aws:sts::123456789012:assumed-role/Smoke/session-2'))).toBe(
      callerOf(event('arn:aws:sts::123456789012:assumed-role/Smoke/session-1')),
    );
    expect(callerOf(event('arn:aws:sts::123456789012:assumed-role/Other/session-1'))).not.toBe(
      callerOf(event('arn:aws:sts::123456789012:assumed-role/Smoke/session-1')),
    );
  });

  it('refuses a request without an authenticated principal with 403', () => {
    expect(() => callerOf(event(undefined))).toThrow(UnknownCallerError);
    expect(() => callerOf(event(''))).toThrow(expect.objectContaining({ statusCode: 403 }));
  });
});
