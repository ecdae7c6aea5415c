import {
  decide,
  itemProblem,
  partitionObjectKey,
  partitionObjects,
} from '../../services/analytics-export/export-plan';
import { toAnalyticsRecord } from '../../services/batch/analytics-schema';
import { predictionItem } from './support/stream-events';

const prefix = 'analytics/predictions/';

describe('decide', () => {
  it('exports api, stream and synthetic inserts as analytics records, keeping their source', () => {
    for (const source of ['api', 'stream', 'synthetic'] as const) {
      const item = predictionItem(`p-${source}`, source, '2026-11-25T10:15:00.000Z', 'req-1');
      expect(decide({ sequenceNumber: '1', eventName: 'INSERT', newItem: item })).toEqual({
        kind: 'export',
        record: expect.objectContaining({ ...toAnalyticsRecord(item), source }),
      });
    }
  });

  it('skips batch predictions, which the scorer already writes', () => {
    const item = predictionItem('p-batch', 'batch', '2026-11-25T10:15:00.000Z');
    expect(decide({ sequenceNumber: '1', eventName: 'INSERT', newItem: item })).toEqual({
      kind: 'skip',
      reason: 'batch-source',
    });
  });

  it('skips anything but an INSERT', () => {
    const item = predictionItem('p', 'api', '2026-11-25T10:15:00.000Z');
    expect(decide({ sequenceNumber: '1', eventName: 'MODIFY', newItem: item })).toEqual({
      kind: 'skip',
      reason: 'not-insert',
    });
  });

  it('refuses an INSERT without a new image or with a malformed item, saying what is wrong', () => {
    expect(decide({ sequenceNumber: '1', eventName: 'INSERT' })).toEqual({
      kind: 'invalid',
      reason: 'INSERT without a NewImage',
    });
    const item = { ...predictionItem('p', 'api', '2026-11-25T10:15:00.000Z'), timestamp: 'yesterday' };
    expect(decide({ sequenceNumber: '1', eventName: 'INSERT', newItem: item })).toEqual({
      kind: 'invalid',
      reason: 'timestamp is not an ISO-8601 time',
    });
  });
});

describe('decide on feedback', () => {
  const item = predictionItem('p-fb', 'api', '2026-11-25T10:15:00.000Z');
  const receivedAt = '2026-11-26T08:00:00.000Z';

  it('exports the MODIFY that stored feedback as a feedback line next to what was predicted', () => {
    const newItem = { ...item, feedback: { label: 'virginica', receivedAt } };
    expect(decide({ sequenceNumber: '2', eventName: 'MODIFY', newItem })).toEqual({
      kind: 'feedback',
      record: {
        predictionId: 'p-fb',
        timestamp: item.timestamp,
        receivedAt,
        modelVersion: item.modelVersion,
        invokedVariant: item.invokedVariant,
        source: 'api',
        predictedLabel: 'label' in item.prediction ? item.prediction.label : undefined,
        trueLabel: 'virginica',
      },
    });
  });

  it('partitions feedback lines by when the feedback arrived', () => {
    const decision = decide({
      sequenceNumber: '2',
      eventName: 'MODIFY',
      newItem: { ...item, feedback: { value: 2.5, receivedAt } },
    });
    if (decision.kind !== 'feedback') throw new Error(decision.kind);
    expect(decision.record.trueValue).toBe(2.5);
    const [object] = partitionObjects(
      'analytics/feedback/',
      ['2'],
      [{ sequenceNumber: '2', record: decision.record }],
    );
    expect(object.key).toBe('analytics/feedback/dt=2026-11-26/hour=08/stream-2-2.json');
  });

  it('refuses feedback without a time or a truth', () => {
    expect(
      decide({ sequenceNumber: '2', eventName: 'MODIFY', newItem: { ...item, feedback: { receivedAt } } }),
    ).toEqual({ kind: 'invalid', reason: 'feedback has neither a label nor a value' });
  });
});

describe('itemProblem', () => {
  const good = predictionItem('p', 'stream', '2026-11-25T10:15:00.000Z');
  it.each([
    ['predictionId is not a non-empty string', { ...good, predictionId: '' }],
    ['prediction.label is missing', { ...good, prediction: { probabilities: [1] } }],
    ['prediction.value is not a finite number', { ...good, prediction: { value: 'high' } }],
    ['prediction is missing', { ...good, prediction: undefined }],
    ['inputFeatures is not a number list', { ...good, inputFeatures: ['1'] }],
    ['expirationTime is not a number', { ...good, expirationTime: '1' }],
    ['source "cli" is unknown', { ...good, source: 'cli' }],
  ])('says %s', (problem, item) => {
    expect(itemProblem(item)).toBe(problem);
  });
  it('accepts a well-formed item', () => expect(itemProblem(good)).toBeUndefined());
  it("accepts a regressor's item and exports its value", () => {
    const regression = { ...good, prediction: { value: -4.5 } };
    expect(itemProblem(regression)).toBeUndefined();
    expect(decide({ sequenceNumber: '1', eventName: 'INSERT', newItem: regression })).toEqual({
      kind: 'export',
      record: expect.objectContaining({ predictedValue: -4.5 }),
    });
  });
});

describe('partitionObjects', () => {
  const at = (id: string, timestamp: string, sequenceNumber: string) => ({
    sequenceNumber,
    record: toAnalyticsRecord(predictionItem(id, 'api', timestamp)),
  });

  it("groups records by their own timestamp's UTC date and hour, one object per partition", () => {
    const objects = partitionObjects(
      prefix,
      ['100', '200', '300', '400'],
      [
        at('a', '2026-11-25T10:59:59.999Z', '100'),
        at('b', '2026-11-25T11:00:00.000Z', '200'),
        at('c', '2026-11-25T10:01:00.000+01:00', '400'),
      ],
    );
    expect(objects.map((o) => [o.key, o.sequenceNumbers])).toEqual([
      ['analytics/predictions/dt=2026-11-25/hour=09/stream-100-400.json', ['400']],
      ['analytics/predictions/dt=2026-11-25/hour=10/stream-100-400.json', ['100']],
      ['analytics/predictions/dt=2026-11-25/hour=11/stream-100-400.json', ['200']],
    ]);
    const lines = objects[1]!.body.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe('');
    expect(JSON.parse(lines[0]!)).toMatchObject({ predictionId: 'a', predictedLabel: 'setosa' });
  });

  it('keeps stream order inside a partition', () => {
    const [object] = partitionObjects(
      prefix,
      ['1', '2'],
      [at('first', '2026-11-25T10:30:00.000Z', '1'), at('second', '2026-11-25T10:10:00.000Z', '2')],
    );
    const ids = object!.body
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { predictionId: string }).predictionId);
    expect(ids).toEqual(['first', 'second']);
  });

  it('names objects only by partition and batch range, so the same batch gets the same keys', () => {
    const batch = [at('a', '2026-11-25T10:15:00.000Z', '7')];
    expect(partitionObjects(prefix, ['7', '9'], batch)).toEqual(partitionObjects(prefix, ['7', '9'], batch));
    expect(partitionObjects(prefix, ['7', '9'], batch)[0]!.key).not.toBe(
      partitionObjects(prefix, ['7', '8'], batch)[0]!.key,
    );
  });

  it('writes nothing for a batch with nothing to export', () => {
    expect(partitionObjects(prefix, ['1', '2'], [])).toEqual([]);
  });
});

describe('partitionObjectKey', () => {
  it('adds the separator a prefix lacks', () => {
    expect(partitionObjectKey('exports', 'dt=2026-11-25/hour=10/', '1', '2')).toBe(
      'exports/dt=2026-11-25/hour=10/stream-1-2.json',
    );
  });
});
